/**
 * npm run model:import -- <file.h5 | file.keras> [--name digitnet] [--activate] [--full] [--backend auto]
 *
 * Imports a Keras model (legacy HDF5 or Keras 3 .keras; a Sequential CNN of
 * Conv2D, MaxPooling2D, BatchNormalization, Activation/ReLU/Softmax, Flatten,
 * Dropout, Dense) as a new version of a model. It assumes digitq's input
 * convention, 28x28x1 pixels scaled to [0, 1], white digit on black, and
 * checks it on the first 1,000 MNIST test images (all 10,000 with --full)
 * before anything is written: below 50% the import is refused. The version
 * folder gets the tfjs files, model.onnx (verified against tfjs) and
 * metadata.json with the checked accuracy and the file it came from.
 *
 * With Redis reachable (REDIS_URL) the registry allocates the version number
 * and the version is registered (and made active with --activate); without
 * it the next number on disk is used and workers register the folder when
 * they start (--activate then moves models/<name>/ACTIVE). Prints one JSON
 * line on stdout.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadConfig } from '@digitq/config';
import { loadMnist } from '@digitq/datasets';
import { INPUT_CHECK_IMAGES, INPUT_CONVENTION_TEXT, MIN_IMPORT_ACCURACY, assertModelName, importKerasModelFolder, initBackend, type BackendPreference } from '@digitq/model';
import { ModelRegistry, writeActiveVersion } from '@digitq/registry';
import { connectRedisIfReachable, createCliLogger, exitOnError } from './cli-support.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    activate: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    backend: { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('model-import', config.LOG_LEVEL);


async function main(): Promise<void> {
  const file = positionals[0];
  if (!file) throw new Error('usage: npm run model:import -- <file.h5 | file.keras> [--name <model>] [--activate] [--full]');
  const name = values.name ?? config.DEFAULT_MODEL;
  assertModelName(name);
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label, file, input: INPUT_CONVENTION_TEXT }, 'importing; the model must take digitq input');

  const testSet = await loadMnist(config.DATA_DIR, 'test');
  const redis = await connectRedisIfReachable({ url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, connectionName: 'digitq-model-import' }, log, 'the version is numbered from disk and not registered; workers register it when they start');
  try {
    const registry = redis ? new ModelRegistry(redis, config.QUEUE_PREFIX, config.MODELS_DIR) : null;
    const result = await importKerasModelFolder({
      file: resolve(file),
      modelsDir: config.MODELS_DIR,
      name,
      ...(registry ? { allocateVersion: () => registry.allocateVersion(name) } : {}),
      testSet,
      check: { images: values.full ? testSet.count : INPUT_CHECK_IMAGES, minAccuracy: MIN_IMPORT_ACCURACY },
      backend: backend.label,
      command: `npm run model:import -- ${process.argv.slice(2).join(' ')}`,
    });
    const { metadata } = result;
    if (registry) await registry.publishFolder(metadata.dir);
    if (values.activate) {
      if (registry) await registry.activate(name, metadata.version);
      else await writeActiveVersion(config.MODELS_DIR, name, metadata.version);
    }
    log.info({ dir: metadata.dir, accuracy: result.evaluation.accuracy, images: result.evaluation.count, source: metadata.source }, 'model imported');
    process.stdout.write(
      JSON.stringify({
        model: `${metadata.name}@${metadata.version}`,
        dir: metadata.dir,
        source: metadata.source,
        format: result.imported.format,
        keras_version: result.imported.kerasVersion,
        appended_softmax: result.imported.appendedSoftmax,
        input: INPUT_CONVENTION_TEXT,
        checked: { images: result.evaluation.count, accuracy: result.evaluation.accuracy, min_accuracy: MIN_IMPORT_ACCURACY },
        onnx: { file: result.onnx.path, sha256: result.onnx.sha256, max_abs_diff: result.onnx.maxAbsDiff },
        registered: Boolean(registry),
        active: values.activate,
      }) + '\n',
    );
  } finally {
    redis?.disconnect();
  }
}

exitOnError(main(), log);
