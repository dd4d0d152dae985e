/**
 * npm run model:export -- <name@version | name | folder> --format onnx
 *
 * Exports a model folder's tfjs model to model.onnx beside it (for the ONNX
 * Runtime engine), after checking that ONNX Runtime answers what tfjs answers,
 * and records the file's sha256 in the folder's metadata.json. Prints one JSON
 * line on stdout:
 * {"model":"digitnet@v1","file":"models/digitnet/v1/model.onnx","sha256":"…","bytes":500881,"max_abs_diff":…}
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@digitq/config';
import { ONNX_OPSET, exportModelFolderOnnx, initBackend, resolveModelDir, verifyOnnxExport, writeOnnxToModelFolder, type BackendPreference } from '@digitq/model';
import { METADATA_JSON } from '@digitq/registry';
import { createCliLogger, exitOnError } from './cli-support.ts';

const FORMATS = ['onnx'] as const;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    format: { type: 'string', default: 'onnx' },
    backend: { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('model-export', config.LOG_LEVEL);

async function main(): Promise<void> {
  if (!FORMATS.includes(values.format as (typeof FORMATS)[number])) throw new Error(`--format must be one of ${FORMATS.join(', ')}`);
  const ref = positionals[0] ?? config.DEFAULT_MODEL;
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label }, 'tensorflow.js backend ready');
  const dir = existsSync(join(ref, METADATA_JSON)) ? ref : await resolveModelDir(config.MODELS_DIR, ref);
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

exitOnError(main(), log);
