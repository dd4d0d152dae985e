/**
 * The exporter against tfjs itself: small models with random weights and
 * random batch-norm statistics (so folding is not the identity), exported,
 * run by ONNX Runtime, and compared with tfjs's predict() on the same inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { sha256 } from '@digitq/registry';
import { buildModel } from '../architecture.ts';
import { initBackend } from '../backend/select-backend.ts';
import { OnnxEngine } from '../engines/onnx-engine.ts';
import { TfjsEngine } from '../engines/tfjs-engine.ts';
import { predictedDigit } from '../engines/classify.ts';
import { readModelMetadata } from '../storage/model-folder.ts';
import { ONNX_OPSET, UnsupportedLayerError, layersModelToOnnx } from './export.ts';
import { MODEL_ONNX, exportModelFolderOnnx } from './onnx-folder.ts';
import { decodeOnnxModel, encodeOnnxModel } from './onnx-proto.ts';

const MAX_PROBABILITY_DIFF = 1e-5;
const BATCH = 16;

beforeAll(async () => {
  await initBackend('wasm');
});

/** Deterministic pseudo-random values in [lo, hi). */
function uniform(length: number, seed: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return out;
}

/** Gives every weight random values; variances stay positive. */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  model.setWeights(
    model.weights.map((w, i) => {
      const size = w.shape.reduce((a, b) => a! * b!, 1)!;
      const variance = w.originalName.endsWith('moving_variance');
      const gamma = w.originalName.endsWith('gamma');
      const values = variance ? uniform(size, seed + i, 0.2, 2) : gamma ? uniform(size, seed + i, 0.5, 1.5) : uniform(size, seed + i, -0.5, 0.5);
      return tf.tensor(values, w.shape as number[]);
    }),
  );
}

async function compareWithTfjs(model: tf.LayersModel, seed: number): Promise<{ maxDiff: number; agree: number }> {
  const onnx = await OnnxEngine.load(encodeOnnxModel(layersModelToOnnx(model)));
  const tfjs = TfjsEngine.fromModel(model);
  const batch = uniform(BATCH * 784, seed);
  const [a, b] = await Promise.all([onnx.predict(batch), tfjs.predict(batch)]);
  await onnx.dispose();
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  let agree = 0;
  for (let i = 0; i < BATCH; i++) if (predictedDigit(a, i) === predictedDigit(b, i)) agree++;
  return { maxDiff, agree };
}

describe('layersModelToOnnx', () => {
  it('exports the tiny architecture as a channels-first graph with batch norm folded away', async () => {
    const model = buildModel('tiny', 3);
    randomizeWeights(model, 11);
    const decoded = decodeOnnxModel(encodeOnnxModel(layersModelToOnnx(model)));
    expect(decoded.opsetVersion).toBe(ONNX_OPSET);
    expect(decoded.graph.nodes.map((n) => n.opType)).toEqual(['Transpose', 'Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Softmax']);
    expect(decoded.graph.inputs).toEqual([{ name: 'input', dims: ['N', 28, 28, 1] }]);
    expect(decoded.graph.outputs).toEqual([{ name: 'probabilities', dims: ['N', 10] }]);
    // Conv kernels channels-first [out, in, h, w]; the dense kernel [features, units] after a 7x7x16 flatten.
    expect(decoded.graph.initializers.map((t) => t.dims)).toEqual([[8, 1, 3, 3], [8], [16, 8, 3, 3], [16], [7 * 7 * 16, 10], [10]]);
    const { maxDiff, agree } = await compareWithTfjs(model, 5);
    expect(agree).toBe(BATCH);
    expect(maxDiff).toBeLessThan(MAX_PROBABILITY_DIFF);
    model.dispose();
  });

  it('handles strides, odd sizes, same padding, biases and batch norm after dense or with nothing to fold into', async () => {
    const model = tf.sequential();
    model.add(tf.layers.batchNormalization({ inputShape: [28, 28, 1] }));
    model.add(tf.layers.conv2d({ filters: 6, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu' }));
    model.add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }));
    model.add(tf.layers.conv2d({ filters: 12, kernelSize: [3, 2], padding: 'valid', useBias: true }));
    model.add(tf.layers.batchNormalization({ epsilon: 0.01 }));
    model.add(tf.layers.reLU());
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 16 }));
    model.add(tf.layers.batchNormalization());
    model.add(tf.layers.activation({ activation: 'relu' }));
    model.add(tf.layers.dropout({ rate: 0.5 }));
    model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    randomizeWeights(model, 23);
    const graph = layersModelToOnnx(model).graph;
    expect(graph.nodes.map((n) => n.opType)).toEqual([
      'Transpose', 'BatchNormalization', 'Conv', 'Relu', 'MaxPool', 'Conv', 'Relu', 'Flatten', 'Gemm', 'Relu', 'Gemm', 'Softmax',
    ]);
    // 28 → 14 (stride 2, same) → 7 (pool 3 stride 2, same) → 5x6 (3x2 valid).
    expect(graph.initializers.find((t) => t.dims.length === 2)!.dims).toEqual([5 * 6 * 12, 16]);
    const { maxDiff, agree } = await compareWithTfjs(model, 9);
    expect(agree).toBe(BATCH);
    expect(maxDiff).toBeLessThan(MAX_PROBABILITY_DIFF);
    model.dispose();
  });

  it('refuses what it cannot translate faithfully', () => {
    const pooled = tf.sequential({ layers: [tf.layers.averagePooling2d({ inputShape: [28, 28, 1], poolSize: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 10, activation: 'softmax' })] });
    expect(() => layersModelToOnnx(pooled)).toThrow(UnsupportedLayerError);
    const logits = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
    expect(() => layersModelToOnnx(logits)).toThrow(/must end in a softmax/);
    pooled.dispose();
    logits.dispose();
  });
});

describe('the committed digitnet v1 model.onnx', () => {
  const config = loadConfig();
  const dir = resolve(fileURLToPath(new URL('../../../../', import.meta.url)), config.MODELS_DIR, 'digitnet', 'v1');

  it('is what the exporter writes today, and its metadata lists its sha256', async () => {
    const committed = readFileSync(resolve(dir, MODEL_ONNX));
    const { bytes } = await exportModelFolderOnnx(dir);
    expect(sha256(bytes)).toBe(sha256(committed));
    expect((await readModelMetadata(dir)).files[MODEL_ONNX]).toBe(sha256(committed));
  });
});
