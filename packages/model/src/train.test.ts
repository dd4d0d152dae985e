import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { loadMnist, sliceDataset, type DigitDataset } from '@digitq/datasets';
import { initBackend } from './backend/select-backend.ts';
import { evaluateModel } from './evaluate.ts';
import { DEFAULT_AUGMENT } from './augment.ts';
import { learningRateAt, trainModel, TrainingCanceledError, type TrainOptions } from './train.ts';
import { predictDigits } from './predict.ts';
import { readCheckpoint } from './storage/checkpoint.ts';

const options: TrainOptions = {
  architecture: 'tiny',
  epochs: 2,
  batchSize: 64,
  learningRate: 3e-3,
  warmupEpochs: 0.2,
  augment: null,
  validationSplit: 0.1,
  seed: 7,
};

let train: DigitDataset;
let test: DigitDataset;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-train-'));
  dirs.push(dir);
  return dir;
};

beforeAll(async () => {
  await initBackend('wasm');
  const { DATA_DIR } = loadConfig();
  train = sliceDataset(await loadMnist(DATA_DIR, 'train'), 0, 3000);
  test = sliceDataset(await loadMnist(DATA_DIR, 'test'), 0, 1000);
});

afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map((w) => w.data() as Promise<Float32Array>));
}

describe('trainModel', () => {
  it('learns MNIST well above chance with the tiny network and reports every batch', async () => {
    const batches: number[] = [];
    const result = await trainModel(train, options, { onBatch: (p) => batches.push(p.batch) });
    const evaluation = await evaluateModel(result.model, test);
    expect(evaluation.accuracy).toBeGreaterThan(0.8);
    expect(result.history).toHaveLength(2);
    expect(result.history[1]!.val_accuracy).toBeGreaterThan(0.8);
    expect(batches.at(-1)).toBe(Math.ceil(2700 / 64));
    result.model.dispose();
  });

  it('warm-starts from a given model: fine-tuning continues from its weights instead of a fresh network', async () => {
    const base = await trainModel(train, options);
    const baseAccuracy = (await evaluateModel(base.model, test)).accuracy;
    const fresh = await trainModel(sliceDataset(train, 0, 128), { ...options, epochs: 1, learningRate: 1e-6 });
    const freshAccuracy = (await evaluateModel(fresh.model, test)).accuracy;
    // A near-zero learning rate leaves the weights where they started: the base's, not a new initialisation.
    const tuned = await trainModel(sliceDataset(train, 0, 128), { ...options, epochs: 1, learningRate: 1e-6 }, { initialModel: base.model });
    expect(tuned.model).toBe(base.model);
    const tunedAccuracy = (await evaluateModel(tuned.model, test)).accuracy;
    expect(baseAccuracy).toBeGreaterThan(0.8);
    expect(freshAccuracy).toBeLessThan(0.5);
    expect(Math.abs(tunedAccuracy - baseAccuracy)).toBeLessThan(0.02);
    tuned.model.dispose();
    fresh.model.dispose();
  });

  it('resumes from its last checkpoint to the weights of an uninterrupted run', async () => {
    const straight = await trainModel(train, { ...options, augment: DEFAULT_AUGMENT });
    const dir = tempDir();
    const stop = new AbortController();
    await expect(
      trainModel(train, { ...options, augment: DEFAULT_AUGMENT }, { checkpointDir: dir, signal: stop.signal, onEpoch: () => stop.abort() }),
    ).rejects.toBeInstanceOf(TrainingCanceledError);
    const checkpoint = await readCheckpoint(dir);
    expect(checkpoint?.epochsDone).toBe(1);
    checkpoint?.model.dispose();
    checkpoint?.optimizerWeights.forEach((w) => w.tensor.dispose());
    const resumed = await trainModel(train, { ...options, augment: DEFAULT_AUGMENT }, { checkpointDir: dir, resume: true });
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2]);
    const [a, b] = [await weightsOf(straight.model), await weightsOf(resumed.model)];
    a.forEach((w, i) => {
      const diff = Math.max(...w.map((v, j) => Math.abs(v - b[i]![j]!)));
      // Not bit-exact: on restore Adam recomputes beta^t with pow() where the
      // live optimizer multiplied step by step; the drift is float rounding.
      expect(diff).toBeLessThan(5e-4);
    });
    straight.model.dispose();
    resumed.model.dispose();
  });

  it('stops at the next batch when canceled', async () => {
    const stop = new AbortController();
    let seen = 0;
    await expect(
      trainModel(train, options, { signal: stop.signal, onBatch: (p) => { seen = p.batch; if (p.batch === 3) stop.abort(); } }),
    ).rejects.toBeInstanceOf(TrainingCanceledError);
    expect(seen).toBe(3);
  });
});

describe('learningRateAt', () => {
  it('warms up linearly, peaks, then decays by cosine to 1% of the peak', () => {
    const o = { learningRate: 1, warmupEpochs: 1, epochs: 11 };
    expect(learningRateAt(0.5, o)).toBeCloseTo(0.5);
    expect(learningRateAt(1, o)).toBeCloseTo(1);
    expect(learningRateAt(6, o)).toBeCloseTo(0.505);
    expect(learningRateAt(11, o)).toBeCloseTo(0.01);
  });
});

describe('predictDigits', () => {
  it('leaves no tensor behind and returns normalised probabilities', async () => {
    const result = await trainModel(sliceDataset(train, 0, 640), { ...options, epochs: 1, validationSplit: 0 });
    const inputs = Array.from({ length: 5 }, (_, i) => Float32Array.from(test.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255));
    await predictDigits(result.model, inputs); // warm-up allocations (kernels, caches)
    const before = tf.memory().numTensors;
    const predictions = await predictDigits(result.model, inputs);
    expect(tf.memory().numTensors).toBe(before);
    for (const p of predictions) {
      expect(p.probabilities).toHaveLength(10);
      expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(p.confidence).toBe(Math.max(...p.probabilities));
    }
    await expect(predictDigits(result.model, [new Float32Array(10)])).rejects.toThrow(/expected 784/);
    expect(tf.memory().numTensors).toBe(before);
    result.model.dispose();
  });
});
