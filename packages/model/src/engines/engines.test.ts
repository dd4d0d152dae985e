/**
 * The point of this file is the production model: ONNX Runtime serving the
 * committed models/digitnet/v1/model.onnx must answer what tfjs answers from
 * model.json + weights.bin, on real MNIST test digits (DATA_DIR). Also how
 * createEngine chooses, and how each engine refuses what it cannot serve.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { DIGIT_CLASSES, MNIST_PIXELS, loadMnist, type DigitDataset } from '@digitq/datasets';
import { initBackend, type BackendInfo } from '../backend/select-backend.ts';
import { MODEL_ONNX } from '../onnx/onnx-folder.ts';
import { predictDigits } from '../predict.ts';
import { ModelChecksumError, loadModelFolder } from '../storage/model-folder.ts';
import { classifyDigits, packImages, predictedDigit } from './classify.ts';
import { createEngine } from './create-engine.ts';
import { EngineUnavailableError, type InferenceEngine } from './engine.ts';
import { OnnxEngine } from './onnx-engine.ts';
import { TfjsEngine } from './tfjs-engine.ts';

/** Every (10000 / SAMPLE_SIZE)-th test digit: deterministic and spread over the whole split. */
const SAMPLE_SIZE = 500;
const MAX_PROBABILITY_DIFF = 1e-5;
const BYTE_TO_UNIT = 1 / 255;

const config = loadConfig();
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const modelDir = resolve(repoRoot, config.MODELS_DIR, 'digitnet', 'v1');

let backend: BackendInfo;
let sample: { batch: Float32Array; labels: number[] };
const dirs: string[] = [];
const engines: InferenceEngine[] = [];

function sampleOf(set: DigitDataset, size: number): { batch: Float32Array; labels: number[] } {
  const step = Math.floor(set.count / size);
  const batch = new Float32Array(size * MNIST_PIXELS);
  const labels: number[] = [];
  for (let i = 0; i < size; i++) {
    const src = set.images.subarray(i * step * MNIST_PIXELS, (i * step + 1) * MNIST_PIXELS);
    for (let p = 0; p < MNIST_PIXELS; p++) batch[i * MNIST_PIXELS + p] = src[p]! * BYTE_TO_UNIT;
    labels.push(set.labels[i * step]!);
  }
  return { batch, labels };
}

/** A copy of the v1 folder to break or strip. */
function copyOfModel(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'digitq-engines-')), 'v1');
  dirs.push(dir);
  cpSync(modelDir, dir, { recursive: true });
  return dir;
}

async function keep<T extends InferenceEngine>(engine: Promise<T>): Promise<T> {
  const e = await engine;
  engines.push(e);
  return e;
}

beforeAll(async () => {
  backend = await initBackend('wasm');
  sample = sampleOf(await loadMnist(config.DATA_DIR, 'test'), SAMPLE_SIZE);
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.dispose()));
  dirs.forEach((d) => rmSync(resolve(d, '..'), { recursive: true, force: true }));
});

describe('ONNX Runtime and tfjs on digitnet v1', () => {
  it(`agree on every digit of ${SAMPLE_SIZE} MNIST test images, within ${MAX_PROBABILITY_DIFF} per probability`, async () => {
    const onnx = await keep(OnnxEngine.load(modelDir));
    const tfjs = await keep(TfjsEngine.load(modelDir, { backendLabel: backend.label }));
    const a = await onnx.predict(sample.batch);
    const b = await tfjs.predict(sample.batch);
    expect(a).toHaveLength(SAMPLE_SIZE * DIGIT_CLASSES);
    expect(b).toHaveLength(SAMPLE_SIZE * DIGIT_CLASSES);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    const disagreements = sample.labels.map((_, i) => i).filter((i) => predictedDigit(a, i) !== predictedDigit(b, i));
    expect(disagreements).toEqual([]);
    expect(maxDiff).toBeLessThanOrEqual(MAX_PROBABILITY_DIFF);
    // And they are right: the model scores 99.68% on the whole split.
    const correct = sample.labels.filter((label, i) => predictedDigit(a, i) === label).length;
    expect(correct / SAMPLE_SIZE).toBeGreaterThan(0.99);
  });

  it('answers the same with 2 intra-op threads, and in batches of any size', async () => {
    const one = await keep(OnnxEngine.load(modelDir, { threads: 1 }));
    const two = await keep(OnnxEngine.load(modelDir, { threads: 2 }));
    expect(two.describe()).toEqual({ engine: 'onnxruntime', threads: 2, device: 'cpu', backend: 'cpu' });
    const slice = sample.batch.subarray(0, 40 * MNIST_PIXELS);
    const whole = await one.predict(slice);
    const threaded = await two.predict(slice);
    const single = await one.predict(slice.subarray(7 * MNIST_PIXELS, 8 * MNIST_PIXELS));
    for (let i = 0; i < whole.length; i++) expect(Math.abs(whole[i]! - threaded[i]!)).toBeLessThanOrEqual(MAX_PROBABILITY_DIFF);
    single.forEach((p, d) => expect(Math.abs(p - whole[7 * DIGIT_CLASSES + d]!)).toBeLessThanOrEqual(MAX_PROBABILITY_DIFF));
    expect(await one.predict(new Float32Array(0))).toHaveLength(0);
    await expect(one.predict(new Float32Array(MNIST_PIXELS + 1))).rejects.toThrow(RangeError);
  });

  it('classifyDigits on an engine gives what predictDigits gives on the tfjs model', async () => {
    const onnx = await keep(OnnxEngine.load(modelDir));
    const images = Array.from({ length: 5 }, (_, i) => sample.batch.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
    const { model } = await loadModelFolder(modelDir);
    const expected = await predictDigits(model, images);
    model.dispose();
    const actual = await classifyDigits(onnx, images);
    expect(actual.map((p) => p.prediction)).toEqual(expected.map((p) => p.prediction));
    actual.forEach((p, i) => expect(Math.abs(p.confidence - expected[i]!.confidence)).toBeLessThanOrEqual(MAX_PROBABILITY_DIFF));
    expect(packImages(images)).toEqual(sample.batch.subarray(0, 5 * MNIST_PIXELS));
  });
});

describe('createEngine', () => {
  it('auto serves with ONNX Runtime when the folder has a verified model.onnx', async () => {
    const engine = await keep(createEngine({ kind: 'auto', threads: 1 }, modelDir));
    expect(engine.describe()).toEqual({ engine: 'onnxruntime', threads: 1, device: 'cpu', backend: 'cpu' });
  });

  it('auto falls back to tfjs without model.onnx and says why; onnx then refuses', async () => {
    const dir = copyOfModel();
    rmSync(join(dir, MODEL_ONNX));
    // A folder from before the export: its metadata does not list model.onnx.
    const metadataPath = join(dir, 'metadata.json');
    const metadata = JSON.parse(readFileSync(metadataPath, 'utf8')) as { files: Record<string, string> };
    delete metadata.files[MODEL_ONNX];
    writeFileSync(metadataPath, JSON.stringify(metadata));
    const engine = await keep(createEngine({ kind: 'auto', tfjsBackend: backend.label }, dir));
    expect(engine.describe()).toMatchObject({ engine: 'tfjs', threads: 1, device: 'cpu', backend: backend.label, fallbackReason: expect.stringContaining('no model.onnx') });
    expect(predictedDigit(await engine.predict(sample.batch.subarray(0, MNIST_PIXELS)), 0)).toBe(sample.labels[0]);
    await expect(createEngine({ kind: 'onnx' }, dir)).rejects.toBeInstanceOf(EngineUnavailableError);
  });

  it('never serves a model.onnx that fails its checksum, not even by falling back', async () => {
    const dir = copyOfModel();
    writeFileSync(join(dir, MODEL_ONNX), 'not the exported model');
    await expect(createEngine({ kind: 'onnx' }, dir)).rejects.toBeInstanceOf(ModelChecksumError);
    await expect(createEngine({ kind: 'auto' }, dir)).rejects.toBeInstanceOf(ModelChecksumError);
  });

  it('refuses device gpu with a clear message where no CUDA provider is installed (installs skip it)', async () => {
    await expect(createEngine({ kind: 'onnx', device: 'gpu' }, modelDir)).rejects.toThrow(/CUDA execution provider is not available.*Not falling back to CPU/);
    await expect(createEngine({ kind: 'auto', device: 'gpu', tfjsBackend: backend.label }, modelDir)).rejects.toThrow(/device gpu needs/);
  });

  it('tfjs serves the same folder on the backend the entrypoint chose', async () => {
    const engine = await keep(createEngine({ kind: 'tfjs', tfjsBackend: backend.label }, modelDir));
    expect(engine.describe()).toEqual({ engine: 'tfjs', threads: 1, device: 'cpu', backend: backend.label });
  });
});
