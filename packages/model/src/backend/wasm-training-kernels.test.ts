/**
 * Every kernel we register for wasm is checked against tfjs's reference cpu
 * backend on the same inputs, including shapes that take the fallbacks.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from './wasm-training-kernels.ts';

type Tensors = Record<string, { values: Float32Array; shape: number[] }>;

function random(shape: number[], seed: number): { values: Float32Array; shape: number[] } {
  let s = seed;
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    values[i] = s / 2147483648 - 0.5;
  }
  return { values, shape };
}

/** Runs `kernel` with the same inputs on a backend and returns the output values. */
async function runOn(backend: string, kernel: string, inputs: Tensors, attrs: object): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const tensors = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]));
  const out = tf.engine().runKernel(kernel, tensors, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { values: (await out.data()) as Float32Array, shape: out.shape };
  tf.dispose([out, ...Object.values(tensors)]);
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

async function compare(kernel: string, inputs: Tensors, attrs: object, tolerance = 1e-4): Promise<void> {
  const expected = await runOn('cpu', kernel, inputs, attrs);
  const actual = await runOn('wasm', kernel, inputs, attrs);
  expect(actual.shape).toEqual(expected.shape);
  const scale = Math.max(1, ...Array.from(expected.values, Math.abs));
  expect(maxAbsDiff(actual.values, expected.values) / scale).toBeLessThan(tolerance);
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  registerWasmTrainingKernels();
});

const convCases = [
  { name: '3x3 same, 1→4 channels', x: [2, 8, 8, 1], f: [3, 3, 1, 4], strides: 1, pad: 'same' },
  { name: '3x3 valid, 3→5 channels', x: [3, 7, 7, 3], f: [3, 3, 3, 5], strides: 1, pad: 'valid' },
  { name: '5x5 same, odd size', x: [2, 9, 9, 2], f: [5, 5, 2, 3], strides: 1, pad: 'same' },
  { name: '3x3 stride 2 same (strided path)', x: [2, 8, 8, 2], f: [3, 3, 2, 3], strides: 2, pad: 'same' },
  { name: '3x3 stride 2 valid, stride not dividing input', x: [2, 9, 9, 2], f: [3, 3, 2, 2], strides: 2, pad: 'valid' },
  { name: '2x3 explicit padding', x: [1, 6, 7, 2], f: [2, 3, 2, 2], strides: 1, pad: [[0, 0], [1, 0], [1, 1], [0, 0]] },
] as const;

describe('Conv2DBackpropFilter on wasm', () => {
  for (const c of convCases) {
    it(`matches cpu: ${c.name}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(c.x as never, c.f as never, c.strides, 1, c.pad as never);
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
      await compare(
        'Conv2DBackpropFilter',
        { x: random([...c.x], 1), dy: random(dyShape, 2) },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: c.f },
      );
    });
  }
});

describe('Conv2DBackpropInput on wasm', () => {
  for (const c of convCases) {
    it(`matches cpu: ${c.name}`, async () => {
      const info = tf.backend_util.computeConv2DInfo(c.x as never, c.f as never, c.strides, 1, c.pad as never);
      const dyShape = [c.x[0], info.outHeight, info.outWidth, c.f[3]];
      await compare(
        'Conv2DBackpropInput',
        { dy: random(dyShape, 3), filter: random([...c.f], 4) },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: c.x },
      );
    });
  }
});

describe('MaxPoolGrad on wasm', () => {
  const cases = [
    { name: '2x2 stride 2 (fast path)', x: [2, 8, 8, 3], size: 2, strides: 2, pad: 'valid' },
    { name: '2x2 stride 2 same on an even input (fast path)', x: [1, 6, 6, 2], size: 2, strides: 2, pad: 'same' },
    { name: '2x2 stride 2 valid on an odd input (cropped)', x: [1, 7, 7, 2], size: 2, strides: 2, pad: 'valid' },
    { name: '2x2 stride 2 same on an odd input (padded)', x: [2, 7, 5, 3], size: 2, strides: 2, pad: 'same' },
    { name: '3x3 stride 3 same', x: [1, 8, 8, 2], size: 3, strides: 3, pad: 'same' },
  ] as const;
  for (const c of cases) {
    it(`matches cpu: ${c.name}`, async () => {
      const x = random([...c.x], 5);
      await tf.setBackend('cpu');
      const output = tf.tidy(() => tf.maxPool(tf.tensor4d(x.values, x.shape as [number, number, number, number]), c.size, c.strides, c.pad));
      const out = { values: (await output.data()) as Float32Array, shape: output.shape };
      output.dispose();
      await compare('MaxPoolGrad', { dy: random(out.shape, 6), input: x, output: out }, { filterSize: c.size, strides: c.strides, pad: c.pad });
    });
  }
});

describe('Tile on wasm', () => {
  it('matches cpu when broadcasting size-1 axes', async () => {
    await compare('Tile', { x: random([1, 1, 1, 4], 7) }, { reps: [2, 3, 3, 1] });
  });
  it('matches cpu for a true repetition (stock fallback)', async () => {
    await compare('Tile', { x: random([2, 3], 8) }, { reps: [2, 2] });
  });
});

describe('end-to-end gradient of a conv/batch-norm/pool network', () => {
  it('matches cpu for every weight', async () => {
    const x = random([4, 12, 12, 1], 9);
    const weights = { k1: random([3, 3, 1, 4], 10), k2: random([3, 3, 4, 6], 11), dense: random([2 * 2 * 6, 10], 12) };
    const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([1, 3, 5, 7], 'int32'), 10).arraySync() as number[][]);
    const gradients = async (backend: string) => {
      await tf.setBackend(backend);
      const input = tf.tensor4d(x.values, x.shape as [number, number, number, number]);
      const y = tf.tensor2d(labels);
      const vars = Object.values(weights).map((w) => tf.tensor(w.values, w.shape));
      const grads = tf.grads((k1: tf.Tensor, k2: tf.Tensor, dense: tf.Tensor) => {
        let h: tf.Tensor4D = tf.conv2d(input, k1 as tf.Tensor4D, 1, 'same');
        const m = tf.moments(h, [0, 1, 2]);
        // tfjs's batchNorm gradient needs explicit offset and scale (layers always passes them).
        h = tf.relu(tf.batchNorm(h, m.mean, m.variance, tf.zeros([4]), tf.ones([4]))) as tf.Tensor4D;
        h = tf.maxPool(h, 2, 2, 'valid');
        h = tf.relu(tf.conv2d(h, k2 as tf.Tensor4D, 1, 'valid'));
        h = tf.maxPool(h, 2, 2, 'valid');
        const logits = tf.matMul(tf.reshape(h, [4, -1]), dense as tf.Tensor2D);
        return tf.losses.softmaxCrossEntropy(y, logits);
      })(vars);
      const values = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
      tf.dispose([input, y, ...vars, ...grads]);
      return values;
    };
    const expected = await gradients('cpu');
    const actual = await gradients('wasm');
    expected.forEach((e, i) => {
      const scale = Math.max(1e-3, ...Array.from(e, Math.abs));
      expect(maxAbsDiff(actual[i]!, e) / scale).toBeLessThan(1e-3);
    });
  });
});
