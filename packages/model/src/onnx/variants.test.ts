/**
 * The point of this file is the production model's variants: the committed
 * models/digitnet/v1/model.int8.onnx and model.fp16.onnx, and ones built
 * afresh from its model.onnx (int8 calibrated on MNIST training images),
 * must classify a deterministic 1,000-image sample of the MNIST test set
 * (DATA_DIR) within 0.3 points of model.onnx. (The whole test set, within
 * 0.1 points, is what npm run model:quantize checks before it writes one.)
 * Also: how a variant is written into a folder, and refused.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { loadMnist, type DigitDataset } from '@digitq/datasets';
import { sha256 } from '@digitq/registry';
import { initBackend } from '../backend/select-backend.ts';
import { predictedDigit } from '../engines/classify.ts';
import { EngineUnavailableError } from '../engines/engine.ts';
import { OnnxEngine } from '../engines/onnx-engine.ts';
import { readModelMetadata } from '../storage/model-folder.ts';
import { MODEL_ONNX, readOnnxFromModelFolder } from './onnx-folder.ts';
import {
  VariantAccuracyError,
  assertVariantAccuracy,
  buildVariant,
  createVariantEngine,
  evenlySpacedImages,
  writeVariantToModelFolder,
  type DerivedVariant,
} from './variants.ts';

const SAMPLE_SIZE = 1000;
/** Points a variant may lose on the 1,000-image sample (3 images). */
const MAX_SAMPLE_DROP_POINTS = 0.3;

const config = loadConfig();
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const modelDir = resolve(repoRoot, config.MODELS_DIR, 'digitnet', 'v1');

let sample: { batch: Float32Array; labels: number[] };
let train: DigitDataset;
let fp32: Uint8Array;
const dirs: string[] = [];

async function correctOf(bytes: Uint8Array): Promise<number> {
  const engine = await OnnxEngine.load(bytes);
  try {
    const probabilities = await engine.predict(sample.batch);
    return sample.labels.filter((label, i) => predictedDigit(probabilities, i) === label).length;
  } finally {
    await engine.dispose();
  }
}

beforeAll(async () => {
  await initBackend('wasm');
  const test = await loadMnist(config.DATA_DIR, 'test');
  const step = Math.floor(test.count / SAMPLE_SIZE);
  sample = { batch: evenlySpacedImages(test, SAMPLE_SIZE), labels: Array.from({ length: SAMPLE_SIZE }, (_, i) => test.labels[i * step]!) };
  train = await loadMnist(config.DATA_DIR, 'train');
  fp32 = await readOnnxFromModelFolder(modelDir);
});

afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('digitnet v1 variants', () => {
  it.each(['int8', 'fp16'] as const)(`the committed %s file is listed, checksummed, and within ${MAX_SAMPLE_DROP_POINTS} points of model.onnx on ${SAMPLE_SIZE} test images`, async (variant) => {
    const metadata = await readModelMetadata(modelDir);
    const file = `model.${variant}.onnx`;
    const bytes = await readOnnxFromModelFolder(modelDir, file);
    expect(metadata.files[file]).toBe(sha256(bytes));
    expect(metadata.variants?.[variant]).toMatchObject({ file, bytes: bytes.length, test_count: 10_000 });
    expect(metadata.variants![variant]!.test_accuracy).toBeGreaterThanOrEqual(metadata.variants![variant]!.fp32_test_accuracy - 0.001);
    const [reference, candidate] = [await correctOf(fp32), await correctOf(bytes)];
    expect(reference).toBeGreaterThanOrEqual(990);
    expect(((reference - candidate) / SAMPLE_SIZE) * 100).toBeLessThanOrEqual(MAX_SAMPLE_DROP_POINTS);
  });

  it.each(['int8', 'fp16'] as DerivedVariant[])(`%s built afresh from model.onnx is within ${MAX_SAMPLE_DROP_POINTS} points too, at a fraction of its size`, async (variant) => {
    const built = await buildVariant(fp32, variant, { calibration: train });
    expect(built.bytes.length).toBeLessThan(fp32.length * (variant === 'int8' ? 0.3 : 0.51));
    if (variant === 'int8') expect(built.calibration).toEqual({ dataset: 'mnist-train', count: 1000, method: 'minmax' });
    const [reference, candidate] = [await correctOf(fp32), await correctOf(built.bytes)];
    expect(((reference - candidate) / SAMPLE_SIZE) * 100).toBeLessThanOrEqual(MAX_SAMPLE_DROP_POINTS);
  });
});

describe('writing and serving a variant', () => {
  it('writes the file with its sha256 in files and its figures in variants, and serves it verified; a tfjs worker refuses it', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'digitq-variants-')), 'v1');
    dirs.push(resolve(dir, '..'));
    cpSync(modelDir, dir, { recursive: true });
    const bytes = (await buildVariant(fp32, 'fp16')).bytes;
    const written = await writeVariantToModelFolder(dir, 'fp16', bytes, { method: 'test', test_accuracy: 0.99, fp32_test_accuracy: 0.99, test_count: 10 });
    expect(readFileSync(written.path)).toEqual(Buffer.from(bytes));
    const metadata = await readModelMetadata(dir);
    expect(metadata.files['model.fp16.onnx']).toBe(sha256(bytes));
    expect(metadata.files[MODEL_ONNX]).toBe(sha256(fp32));
    expect(metadata.variants?.fp16).toMatchObject({ file: 'model.fp16.onnx', bytes: bytes.length, size_ratio: Number((bytes.length / fp32.length).toFixed(4)), method: 'test' });
    // The other variant's entry is kept.
    expect(metadata.variants?.int8?.file).toBe('model.int8.onnx');

    const engine = await createVariantEngine({ kind: 'auto' }, dir, 'fp16');
    try {
      expect(engine.describe().engine).toBe('onnxruntime');
      expect(predictedDigit(await engine.predict(sample.batch.subarray(0, 784)), 0)).toBe(sample.labels[0]);
    } finally {
      await engine.dispose();
    }
    await expect(createVariantEngine({ kind: 'tfjs' }, dir, 'int8')).rejects.toThrow(EngineUnavailableError);
    await expect(createVariantEngine({ kind: 'tfjs' }, dir, 'int8')).rejects.toThrow(/runs on ONNX Runtime only/);
  });

  it('refuses a variant more than 0.1 points below model.onnx, saying by how much', () => {
    const comparison = { count: 10_000, fp32Correct: 9968, variantCorrect: 9950, fp32Accuracy: 0.9968, accuracy: 0.995, dropPoints: 0.18 };
    expect(() => assertVariantAccuracy('int8', comparison)).toThrow(VariantAccuracyError);
    expect(() => assertVariantAccuracy('int8', comparison)).toThrow('int8 classifies 99.50% of 10000 test images, 0.18 points (18 images) below model.onnx\'s 99.68%; the limit is 0.10 points (10 images)');
    expect(() => assertVariantAccuracy('int8', { ...comparison, variantCorrect: 9958, accuracy: 0.9958, dropPoints: 0.1 })).not.toThrow();
  });
});
