/**
 * Model variants: float16 and int8 ONNX files derived from a version's
 * model.onnx, written beside it (model.fp16.onnx, model.int8.onnx) with their
 * sha256 in metadata.json `files` and how they measured in `variants`. A
 * variant is only written when it classifies the test set within
 * MAX_VARIANT_ACCURACY_DROP of model.onnx, both measured on ONNX Runtime.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { DEFAULT_MODEL_VARIANT, type ModelMetadata, type ModelVariant, type ModelVariantInfo } from '@digitq/contracts';
import { MNIST_PIXELS, type DigitDataset } from '@digitq/datasets';
import { METADATA_JSON, sha256, variantFileName, writeAtomically } from '@digitq/registry';
import { createEngine, type CreateEngineOptions } from '../engines/create-engine.ts';
import { EngineUnavailableError, type InferenceEngine } from '../engines/engine.ts';
import { evaluateEngine } from '../engines/evaluate-engine.ts';
import { OnnxEngine } from '../engines/onnx-engine.ts';
import { readModelMetadata } from '../storage/model-folder.ts';
import { calibrateRanges } from './calibrate.ts';
import { float16Model, type Float16Mode } from './float16.ts';
import { MODEL_ONNX, readOnnxFromModelFolder } from './onnx-folder.ts';
import { decodeOnnxModel, encodeOnnxModel, onnxOperators } from './onnx-proto.ts';
import { calibrationTensors, quantizeInt8 } from './quantize.ts';

/** The derived variants (fp32 is model.onnx itself). */
export const DERIVED_VARIANTS = ['fp16', 'int8'] as const satisfies readonly ModelVariant[];
export type DerivedVariant = (typeof DERIVED_VARIANTS)[number];

/** A variant may classify at most this fraction of the test set fewer images correctly than model.onnx (0.1 points). */
export const MAX_VARIANT_ACCURACY_DROP = 0.001;
/** Training images the int8 activation ranges are calibrated on. */
export const CALIBRATION_IMAGES = 1000;
const BYTE_TO_UNIT = 1 / 255;

export class VariantAccuracyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VariantAccuracyError';
  }
}

/** `count` images spread evenly over `set` (every ⌊set.count / count⌋-th), as N×784 floats in [0,1]. */
export function evenlySpacedImages(set: DigitDataset, count: number): Float32Array {
  const n = Math.min(count, set.count);
  const step = Math.floor(set.count / n);
  const batch = new Float32Array(n * MNIST_PIXELS);
  for (let i = 0; i < n; i++) {
    const src = set.images.subarray(i * step * MNIST_PIXELS, (i * step + 1) * MNIST_PIXELS);
    for (let p = 0; p < MNIST_PIXELS; p++) batch[i * MNIST_PIXELS + p] = src[p]! * BYTE_TO_UNIT;
  }
  return batch;
}

export interface BuildVariantOptions {
  /** int8: the images whose activation ranges set the scales (e.g. the training split); CALIBRATION_IMAGES of them are used, evenly spaced. */
  calibration?: DigitDataset;
  calibrationImages?: number;
  /** fp16: 'weights' (default; what ONNX Runtime's CPU provider runs at float32 speed) or 'compute'. */
  float16Mode?: Float16Mode;
}

export interface BuiltVariant {
  bytes: Uint8Array;
  method: string;
  calibration?: ModelVariantInfo['calibration'];
}

/** The variant's ONNX bytes, from a float model.onnx's bytes. */
export async function buildVariant(fp32Onnx: Uint8Array, variant: DerivedVariant, options: BuildVariantOptions = {}): Promise<BuiltVariant> {
  const model = decodeOnnxModel(fp32Onnx);
  if (variant === 'fp16') {
    const mode = options.float16Mode ?? 'weights';
    return {
      bytes: encodeOnnxModel(float16Model(model, mode)),
      method: mode === 'weights' ? 'fp16 weights, Cast to float32 when loaded (computes in float32)' : 'fp16 weights and compute, Cast at the input and output',
    };
  }
  if (!options.calibration) throw new RangeError('int8 needs calibration images');
  const images = evenlySpacedImages(options.calibration, options.calibrationImages ?? CALIBRATION_IMAGES);
  const ranges = await calibrateRanges(model, calibrationTensors(model), images);
  return {
    bytes: encodeOnnxModel(quantizeInt8(model, ranges)),
    method: 'int8 QDQ: weights int8 per output channel (symmetric), biases int32, activations uint8 (min/max calibration)',
    calibration: { dataset: options.calibration.name, count: images.length / MNIST_PIXELS, method: 'minmax' },
  };
}

export interface VariantComparison {
  count: number;
  fp32Correct: number;
  variantCorrect: number;
  fp32Accuracy: number;
  accuracy: number;
  /** Points (percent) the variant is below model.onnx; negative when above. */
  dropPoints: number;
}

/** Both ONNX files' test-set accuracy on ONNX Runtime CPU (one thread each, the same inputs). Needs a tfjs backend (evaluateEngine's input path). */
export async function compareVariant(fp32Onnx: Uint8Array, variantOnnx: Uint8Array, test: DigitDataset): Promise<VariantComparison> {
  const accuracyOf = async (bytes: Uint8Array) => {
    const engine = await OnnxEngine.load(bytes);
    try {
      return (await evaluateEngine(engine, test)).accuracy;
    } finally {
      await engine.dispose();
    }
  };
  const fp32Accuracy = await accuracyOf(fp32Onnx);
  const accuracy = await accuracyOf(variantOnnx);
  const fp32Correct = Math.round(fp32Accuracy * test.count);
  const variantCorrect = Math.round(accuracy * test.count);
  return { count: test.count, fp32Correct, variantCorrect, fp32Accuracy, accuracy, dropPoints: ((fp32Correct - variantCorrect) / test.count) * 100 };
}

/** Throws VariantAccuracyError when the variant lost more than MAX_VARIANT_ACCURACY_DROP of the test set, saying by how much. */
export function assertVariantAccuracy(variant: ModelVariant, comparison: VariantComparison, maxDrop = MAX_VARIANT_ACCURACY_DROP): void {
  const allowedImages = Math.floor(maxDrop * comparison.count + 1e-9);
  const lostImages = comparison.fp32Correct - comparison.variantCorrect;
  if (lostImages > allowedImages) {
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    throw new VariantAccuracyError(
      `${variant} classifies ${pct(comparison.accuracy)} of ${comparison.count} test images, ${comparison.dropPoints.toFixed(2)} points ` +
        `(${lostImages} images) below model.onnx's ${pct(comparison.fp32Accuracy)}; the limit is ${(maxDrop * 100).toFixed(2)} points (${allowedImages} images), so it was not written`,
    );
  }
}

/**
 * Writes the variant's file into the version folder and records its sha256
 * in `files` and `info` in `variants` (other fields kept), each write atomic.
 */
export async function writeVariantToModelFolder(
  dir: string,
  variant: DerivedVariant,
  bytes: Uint8Array,
  info: Omit<ModelVariantInfo, 'file' | 'bytes' | 'size_ratio' | 'created_at'>,
): Promise<{ path: string; sha256: string; metadata: ModelMetadata }> {
  const metadata = await readModelMetadata(dir);
  const file = variantFileName(variant);
  const fp32Bytes = (await readFile(join(dir, MODEL_ONNX))).length;
  const digest = sha256(bytes);
  const entry: ModelVariantInfo = { file, bytes: bytes.length, size_ratio: Number((bytes.length / fp32Bytes).toFixed(4)), ...info, created_at: new Date().toISOString() };
  const updated: ModelMetadata = { ...metadata, files: { ...metadata.files, [file]: digest }, variants: { ...metadata.variants, [variant]: entry } };
  const path = join(dir, file);
  await writeAtomically(path, bytes);
  await writeAtomically(join(dir, METADATA_JSON), JSON.stringify(updated, null, 2) + '\n');
  return { path, sha256: digest, metadata: updated };
}

/** A version folder's ONNX file for `variant` (model.onnx for fp32), verified against its metadata. */
export async function readVariantOnnx(dir: string, variant: ModelVariant): Promise<Uint8Array> {
  return readOnnxFromModelFolder(dir, variantFileName(variant));
}

/**
 * The engine serving a version folder as `variant`: fp32 as createEngine
 * chooses (ONNX Runtime or tfjs); a derived variant on ONNX Runtime only, from
 * its verified file. EngineUnavailableError when it cannot be served here
 * (a tfjs-only worker, no such file, the runtime missing).
 */
export async function createVariantEngine(options: CreateEngineOptions, dir: string, variant: ModelVariant): Promise<InferenceEngine> {
  if (variant === DEFAULT_MODEL_VARIANT) return createEngine(options, dir);
  if (options.kind === 'tfjs') throw new EngineUnavailableError(`the ${variant} variant runs on ONNX Runtime only, and this worker serves with tfjs (INFERENCE_ENGINE=tfjs)`);
  return OnnxEngine.load(await readVariantOnnx(dir, variant), { threads: options.threads, device: options.device });
}

/**
 * The operators ONNX Runtime actually runs for an ONNX file, after its
 * graph optimizations (written with optimizedModelFilePath and read back):
 * how to tell that an int8 graph runs on integer kernels (QLinearConv, QGemm).
 */
export async function optimizedOperators(bytes: Uint8Array): Promise<string[]> {
  const module = await import('onnxruntime-node');
  const ort = (module.default ?? module) as typeof Ort;
  const dir = await mkdtemp(join(tmpdir(), 'digitq-ort-optimized-'));
  try {
    const path = join(dir, 'optimized.onnx');
    // Severity 3 (errors): ORT warns that a fully optimized graph is specific to this machine, which is the point here.
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, intraOpNumThreads: 1, logSeverityLevel: 3 });
    await session.release();
    return onnxOperators(await readFile(path));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
