/**
 * npm run model:export -- <name@version | name | folder> --format onnx|h5 [--out file]
 *
 * --format onnx: exports a model folder's tfjs model to model.onnx beside it
 * (for the ONNX Runtime engine), after checking that ONNX Runtime answers what
 * tfjs answers, and records the file's sha256 in the folder's metadata.json.
 *
 * --format h5: writes the model as a Keras legacy HDF5 file (default
 * <name>-<version>.h5 in the current directory, or --out) that Keras 2 and 3
 * load with keras.models.load_model; the folder is not changed.
 *
 * Prints one JSON line on stdout:
 * {"model":"digitnet@v1","format":"onnx","file":"models/digitnet/v1/model.onnx","sha256":"…","bytes":500881,…}
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@digitq/config';
import {
  ONNX_OPSET,
  exportKerasH5,
  exportModelFolderOnnx,
  initBackend,
  loadModelFolder,
  resolveModelDir,
  verifyOnnxExport,
  writeOnnxToModelFolder,
  type BackendPreference,
} from '@digitq/model';
import { METADATA_JSON } from '@digitq/registry';
import { createCliLogger, exitOnError } from './cli-support.ts';

const FORMATS = ['onnx', 'h5'] as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    format: { type: 'string', default: 'onnx' },
    backend: { type: 'string' },
    out: { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('model-export', config.LOG_LEVEL);

async function main(): Promise<void> {
  if (!FORMATS.includes(values.format as (typeof FORMATS)[number])) throw new Error(`--format must be one of ${FORMATS.join(', ')}`);
  if (values.out && values.format !== 'h5') throw new Error('--out applies to --format h5 (model.onnx is written into the model folder)');
  const ref = positionals[0] ?? config.DEFAULT_MODEL;
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label }, 'tensorflow.js backend ready');
  const dir = existsSync(join(ref, METADATA_JSON)) ? ref : await resolveModelDir(config.MODELS_DIR, ref);
  if (values.format === 'h5') return exportH5(dir);
  const { bytes, metadata } = await exportModelFolderOnnx(dir);
  const check = await verifyOnnxExport(dir, bytes);
  log.info(check, 'ONNX Runtime answers what tfjs answers');
  const written = await writeOnnxToModelFolder(dir, bytes);
  process.stdout.write(
    JSON.stringify({
      model: `${metadata.name}@${metadata.version}`,
      format: values.format,
      opset: ONNX_OPSET,
      file: written.path,
      sha256: written.sha256,
      bytes: written.bytes,
      max_abs_diff: check.maxAbsDiff,
    }) + '\n',
  );
}

/** The folder's model (checksums verified) as a Keras .h5 file. */
async function exportH5(dir: string): Promise<void> {
  const { model, metadata } = await loadModelFolder(dir);
  try {
    const written = await exportKerasH5(model, values.out ?? `${metadata.name}-${metadata.version}.h5`);
    process.stdout.write(
      JSON.stringify({
        model: `${metadata.name}@${metadata.version}`,
        format: 'h5',
        keras_version: written.kerasVersion,
        file: written.path,
        sha256: written.sha256,
        bytes: written.bytes,
      }) + '\n',
    );
  } finally {
    model.dispose();
  }
}

exitOnError(main(), log);
