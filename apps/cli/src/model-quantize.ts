/**
 * npm run model:quantize -- <name@version | name | folder> --variant int8|fp16 [--fp16-mode weights|compute] [--calibration-images 1000]
 *
 * Derives a variant of a version's model.onnx (exported first if the folder
 * has none) and writes it beside it as model.<variant>.onnx, with its sha256
 * in metadata.json `files` and its measurements in `variants`:
 * - int8: static QDQ quantization, weights per output channel, activation
 *   ranges calibrated on MNIST training images (DATA_DIR);
 * - fp16: float16 weights.
 * Both files are scored on the whole MNIST test set on ONNX Runtime; a
 * variant more than 0.1 points below model.onnx is refused (exit 1, saying
 * by how much) and nothing is written. Prints one JSON line on stdout:
 * {"model":"digitnet@v1","variant":"int8","file":"…/model.int8.onnx","bytes":…,"test_accuracy":…,"fp32_test_accuracy":…,…}
 */
import { parseArgs } from 'node:util';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@digitq/config';
import { loadMnist } from '@digitq/datasets';
import {
  CALIBRATION_IMAGES,
  DERIVED_VARIANTS,
  FLOAT16_MODES,
  MODEL_ONNX,
  assertVariantAccuracy,
  buildVariant,
  compareVariant,
  exportModelFolderOnnx,
  initBackend,
  optimizedOperators,
  readModelMetadata,
  readOnnxFromModelFolder,
  resolveModelDir,
  verifyOnnxExport,
  writeOnnxToModelFolder,
  writeVariantToModelFolder,
  type BackendPreference,
  type DerivedVariant,
  type Float16Mode,
} from '@digitq/model';
import { METADATA_JSON } from '@digitq/registry';
import { createCliLogger, exitOnError } from './cli-support.ts';

/** Float ops that must not survive ONNX Runtime's optimization of an int8 graph: their presence means a QDQ group was not fused. */
const FLOAT_COMPUTE_OPS = ['Conv', 'Gemm', 'MatMul', 'com.microsoft.nchwc.Conv', 'com.microsoft.FusedConv', 'com.microsoft.FusedGemm'];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    variant: { type: 'string' },
    'fp16-mode': { type: 'string', default: 'weights' },
    'calibration-images': { type: 'string', default: String(CALIBRATION_IMAGES) },
    backend: { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('model-quantize', config.LOG_LEVEL);

function parseOptions(): { variant: DerivedVariant; float16Mode: Float16Mode; calibrationImages: number } {
  const variant = values.variant as DerivedVariant;
  if (!DERIVED_VARIANTS.includes(variant)) throw new Error(`--variant must be one of ${DERIVED_VARIANTS.join(', ')}`);
  const float16Mode = values['fp16-mode'] as Float16Mode;
  if (!FLOAT16_MODES.includes(float16Mode)) throw new Error(`--fp16-mode must be one of ${FLOAT16_MODES.join(', ')}`);
  const calibrationImages = Number(values['calibration-images']);
  if (!Number.isInteger(calibrationImages) || calibrationImages < 1) throw new Error('--calibration-images must be a positive integer');
  return { variant, float16Mode, calibrationImages };
}

async function main(): Promise<void> {
  const { variant, float16Mode, calibrationImages } = parseOptions();
  const ref = positionals[0] ?? config.DEFAULT_MODEL;
  // tfjs: to export model.onnx when the folder has none, and to feed the test set to both engines the way evaluation does.
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label }, 'tensorflow.js backend ready');
  const dir = existsSync(join(ref, METADATA_JSON)) ? ref : await resolveModelDir(config.MODELS_DIR, ref);
  const metadata = await readModelMetadata(dir);
  const model = `${metadata.name}@${metadata.version}`;

  if (!metadata.files[MODEL_ONNX]) {
    const { bytes } = await exportModelFolderOnnx(dir);
    await verifyOnnxExport(dir, bytes);
    await writeOnnxToModelFolder(dir, bytes);
    log.info({ model }, `${MODEL_ONNX} exported first: variants are derived from it`);
  }
  const fp32 = await readOnnxFromModelFolder(dir);
  const started = performance.now();
  const built = await buildVariant(fp32, variant, {
    calibration: variant === 'int8' ? await loadMnist(config.DATA_DIR, 'train') : undefined,
    calibrationImages,
    float16Mode,
  });
  log.info({ model, variant, bytes: built.bytes.length, ms: Math.round(performance.now() - started) }, 'variant built; scoring it against model.onnx on the test set');

  const comparison = await compareVariant(fp32, built.bytes, await loadMnist(config.DATA_DIR, 'test'));
  log.info({ model, variant, ...comparison }, 'test-set accuracy on ONNX Runtime');
  assertVariantAccuracy(variant, comparison);

  const operators = await optimizedOperators(built.bytes);
  if (variant === 'int8') {
    const float = operators.filter((op) => FLOAT_COMPUTE_OPS.includes(op));
    if (float.length > 0) throw new Error(`ONNX Runtime left float ${float.join(', ')} in the int8 graph (operators: ${operators.join(' ')}), so it would not run on integer kernels; not written`);
  }
  const written = await writeVariantToModelFolder(dir, variant, built.bytes, {
    method: built.method,
    ...(built.calibration ? { calibration: built.calibration } : {}),
    test_accuracy: comparison.accuracy,
    fp32_test_accuracy: comparison.fp32Accuracy,
    test_count: comparison.count,
  });
  process.stdout.write(
    JSON.stringify({
      model,
      variant,
      file: written.path,
      sha256: written.sha256,
      bytes: built.bytes.length,
      fp32_bytes: statSync(join(dir, MODEL_ONNX)).size,
      test_accuracy: comparison.accuracy,
      fp32_test_accuracy: comparison.fp32Accuracy,
      drop_points: Number(comparison.dropPoints.toFixed(4)),
      test_count: comparison.count,
      ort_operators: operators,
    }) + '\n',
  );
}

exitOnError(main(), log);
