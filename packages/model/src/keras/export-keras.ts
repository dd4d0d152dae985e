/**
 * A digitq model as a Keras legacy HDF5 file, the format tf.keras 2 writes
 * with model.save("x.h5") and Keras 2 and 3 load with
 * keras.models.load_model("x.h5"):
 *
 *   /                      attrs keras_version "2.15.0", backend "tensorflow",
 *                          model_config (Sequential config JSON)
 *   /model_weights         attrs layer_names, keras_version, backend
 *   /model_weights/<layer> attr weight_names ["<layer>/kernel:0", ...]
 *                          (an empty list for layers without weights)
 *   /model_weights/<layer>/<layer>/kernel:0   float32 datasets
 *
 * Keras loads weights by position (layer order, then trainable before
 * non-trainable), which is the order written here. The file is written
 * beside its destination, read back and compared with the model before it
 * is renamed into place.
 */
import type * as tf from '@tensorflow/tfjs';
import { readFile, rename, rm } from 'node:fs/promises';
import { sha256 } from '@digitq/registry';
import { KerasFileError, writeFloatDataset, writeStringListAttribute, withH5File } from './hdf5.ts';
import { kerasModelConfig, kerasWeightNames, parseKerasModelConfig, tfjsModelWeights, type KerasModelSpec, type KerasWeights } from './keras-layers.ts';
import { readKerasFile } from './read-keras-file.ts';

/** The Keras version and backend the file claims: a tf.keras 2 file, which every Keras since 2.x (3 included) reads. */
export const KERAS_EXPORT_VERSION = '2.15.0';
export const KERAS_EXPORT_BACKEND = 'tensorflow';

export interface KerasExportResult {
  path: string;
  sha256: string;
  bytes: number;
  kerasVersion: string;
  layers: number;
}

/** The description of a tfjs model as Keras sees it (its model.json topology is Keras's config format). */
export function tfjsModelSpec(model: tf.LayersModel): KerasModelSpec {
  return parseKerasModelConfig(model.toJSON(null, false));
}

async function writeLegacyH5(path: string, spec: KerasModelSpec, weights: KerasWeights): Promise<void> {
  await withH5File(path, 'w', (file) => {
    file.create_attribute('keras_version', KERAS_EXPORT_VERSION);
    file.create_attribute('backend', KERAS_EXPORT_BACKEND);
    file.create_attribute('model_config', JSON.stringify(kerasModelConfig(spec)));
    const group = file.create_group('model_weights');
    writeStringListAttribute(
      group,
      'layer_names',
      spec.layers.map((layer) => layer.name),
    );
    group.create_attribute('keras_version', KERAS_EXPORT_VERSION);
    group.create_attribute('backend', KERAS_EXPORT_BACKEND);
    for (const layer of spec.layers) {
      const layerGroup = group.create_group(layer.name);
      const names = kerasWeightNames(layer);
      writeStringListAttribute(
        layerGroup,
        'weight_names',
        names.map((name) => `${layer.name}/${name}:0`),
      );
      for (const name of names) {
        const tensor = weights.get(layer.name)?.get(name);
        if (!tensor) throw new KerasFileError(`layer ${JSON.stringify(layer.name)} has no ${name} weight to export`);
        writeFloatDataset(layerGroup, `${layer.name}/${name}:0`, tensor);
      }
    }
  });
}

/** What the file must say about the model (a ReLU or Softmax layer is written as the Activation it is). */
function comparable(spec: KerasModelSpec): unknown {
  return { ...spec, layers: spec.layers.map(({ kerasClass: _kerasClass, ...layer }) => layer) };
}

function sameWeights(a: KerasWeights, b: KerasWeights): string | null {
  for (const [layer, tensors] of a) {
    for (const [name, tensor] of tensors) {
      const other = b.get(layer)?.get(name);
      if (!other) return `${layer}/${name} is missing`;
      if (JSON.stringify(other.shape) !== JSON.stringify(tensor.shape)) return `${layer}/${name} has shape ${JSON.stringify(other.shape)}, not ${JSON.stringify(tensor.shape)}`;
      if (!Buffer.from(other.values.buffer, other.values.byteOffset, other.values.byteLength).equals(Buffer.from(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength))) {
        return `${layer}/${name} differs`;
      }
    }
  }
  return null;
}

/** Writes `model` to `path` as a Keras legacy HDF5 file; throws UnsupportedKerasModelError for layers Keras export does not cover. */
export async function exportKerasH5(model: tf.LayersModel, path: string): Promise<KerasExportResult> {
  const spec = tfjsModelSpec(model);
  const weights = tfjsModelWeights(model, spec);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeLegacyH5(tmp, spec, weights);
    const written = await readKerasFile(tmp);
    const difference =
      JSON.stringify(comparable(written.spec)) !== JSON.stringify(comparable(spec))
        ? 'the model config reads back differently'
        : (sameWeights(weights, written.weights) ?? sameWeights(written.weights, weights));
    if (difference) throw new KerasFileError(`${path}: the file written does not read back as the model (${difference})`);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  const bytes = await readFile(path);
  return { path, sha256: sha256(bytes), bytes: bytes.length, kerasVersion: KERAS_EXPORT_VERSION, layers: spec.layers.length };
}
