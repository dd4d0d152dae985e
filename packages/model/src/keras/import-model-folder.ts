/**
 * A Keras file as a new model version: imported, checked against digitq's
 * input convention on MNIST test images, written as a model folder (tfjs
 * files, metadata.json with the check's accuracy and where it came from),
 * and given its model.onnx, verified against tfjs, like every version.
 * Registering it (Redis) is the caller's part.
 */
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ModelMetadata } from '@digitq/contracts';
import type { DigitDataset } from '@digitq/datasets';
import type { Evaluation } from '../evaluate.ts';
import { layersModelToOnnx } from '../onnx/export.ts';
import { exportModelFolderOnnx, writeOnnxToModelFolder, type OnnxExportResult } from '../onnx/onnx-folder.ts';
import { verifyOnnxExport } from '../onnx/verify-export.ts';
import { writeModelFolder } from '../storage/model-folder.ts';
import { importKerasModel, type ImportedKerasModel } from './import-keras.ts';
import { checkInputConvention, type InputCheckOptions } from './input-convention.ts';

export interface ImportKerasFolderInput {
  /** The .h5 or .keras file. */
  file: string;
  modelsDir: string;
  name: string;
  /** Asked for the version number once the model passed its checks (the registry's allocateVersion); the next free one on disk when absent. */
  allocateVersion?: () => Promise<string>;
  /** MNIST's test set: the first images check the input convention. */
  testSet: DigitDataset;
  check?: InputCheckOptions;
  /** The tfjs backend that ran the check (recorded like a training backend). */
  backend: string;
  /** How it was imported (the command line), recorded in the metadata. */
  command: string;
}

export interface ImportKerasFolderResult {
  metadata: ModelMetadata & { dir: string };
  imported: Omit<ImportedKerasModel, 'model'>;
  evaluation: Evaluation;
  onnx: OnnxExportResult & { maxAbsDiff: number };
}

/** What an imported version records where a trained one records its training. */
function importMetadata(input: ImportKerasFolderInput, imported: ImportedKerasModel, evaluation: Evaluation): Parameters<typeof writeModelFolder>[0]['metadata'] {
  const format = imported.format === 'legacy-h5' ? 'legacy HDF5' : '.keras';
  return {
    architecture: `keras:${imported.model.name}`,
    created_at: new Date().toISOString(),
    source: `imported from ${basename(input.file)} (Keras ${imported.kerasVersion ?? 'version not recorded'}, ${format}${imported.appendedSoftmax ? ', softmax appended to its logits' : ''})`,
    // Not trained here: nothing is known of its data or its training.
    dataset: { name: 'unknown (imported)', train_count: 0, validation_count: 0 },
    training: { epochs: 0, batch_size: 0, learning_rate: 0, augment: null, seed: 0, seconds: 0, backend: input.backend, command: input.command },
    metrics: { test_accuracy: evaluation.accuracy, test_count: evaluation.count, test_loss: evaluation.loss, val_accuracy: null },
  };
}

/**
 * Imports `file` as `name`'s next version. Throws before anything is written
 * when the model is not supported (UnsupportedKerasModelError,
 * UnsupportedLayerError from the ONNX exporter) or fails the input check
 * (InputConventionError); a folder whose ONNX export then fails is removed.
 */
export async function importKerasModelFolder(input: ImportKerasFolderInput): Promise<ImportKerasFolderResult> {
  const imported = await importKerasModel(input.file);
  try {
    // Every version gets a model.onnx: refuse now what the ONNX exporter cannot convert.
    layersModelToOnnx(imported.model);
    const evaluation = await checkInputConvention(imported.model, input.testSet, input.check);
    const metadata = await writeModelFolder({
      modelsDir: input.modelsDir,
      name: input.name,
      ...(input.allocateVersion ? { version: await input.allocateVersion() } : {}),
      model: imported.model,
      history: [],
      metadata: importMetadata(input, imported, evaluation),
    });
    try {
      const { bytes } = await exportModelFolderOnnx(metadata.dir);
      const check = await verifyOnnxExport(metadata.dir, bytes);
      const onnx = await writeOnnxToModelFolder(metadata.dir, bytes);
      const { model: _model, ...facts } = imported;
      return { metadata: { ...onnx.metadata, dir: metadata.dir }, imported: facts, evaluation, onnx: { ...onnx, maxAbsDiff: check.maxAbsDiff } };
    } catch (error) {
      await rm(metadata.dir, { recursive: true, force: true });
      throw error;
    }
  } finally {
    imported.model.dispose();
  }
}
