/**
 * A Keras model file as a tfjs model: the layers built from its config, its
 * weights set as stored (Keras and tfjs are both NHWC, so conv kernels
 * [kh, kw, in, out] and dense kernels [in, out] map directly).
 */
import type * as tf from '@tensorflow/tfjs';
import { buildTfjsModel, type KerasLayerSpec } from './keras-layers.ts';
import { readKerasFile, type KerasModelFile } from './read-keras-file.ts';

export interface ImportedKerasModel {
  model: tf.Sequential;
  format: KerasModelFile['format'];
  kerasVersion: string | null;
  layers: number;
  /**
   * True when the Keras model outputs logits (a final linear layer, trained
   * with from_logits=True): a softmax layer was appended, since digitq serves
   * probabilities; the predicted digit is the same.
   */
  appendedSoftmax: boolean;
}

const APPENDED_SOFTMAX_NAME = 'digitq_softmax';

/** Reads `path` (.h5 or .keras) and builds the tfjs model; throws naming what is not supported. */
export async function importKerasModel(path: string): Promise<ImportedKerasModel> {
  const file = await readKerasFile(path);
  const appendedSoftmax = file.spec.output === 'logits';
  const softmax: KerasLayerSpec = { kind: 'Activation', name: APPENDED_SOFTMAX_NAME, kerasClass: 'Activation', activation: 'softmax' };
  const layers = appendedSoftmax ? [...file.spec.layers, softmax] : file.spec.layers;
  const model = buildTfjsModel({ ...file.spec, layers }, file.weights);
  return { model, format: file.format, kerasVersion: file.kerasVersion, layers: file.spec.layers.length, appendedSoftmax };
}
