/**
 * Keras in and out: files made by fixtures/make-fixtures.py to Keras's
 * documented layouts (legacy HDF5 and Keras 3 .keras) with known weights
 * must predict what numpy computed from those weights; a tfjs model
 * exported to .h5 and imported back must predict exactly what it did;
 * anything outside the supported layers is refused with the layer and the
 * option named.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, buildModel } from '../architecture.ts';
import { initBackend } from '../backend/select-backend.ts';
import { fixtureInputs } from './fixtures/test-inputs.ts';
import { KERAS_EXPORT_BACKEND, KERAS_EXPORT_VERSION, exportKerasH5 } from './export-keras.ts';
import { KerasFileError, getGroup, readFloatDataset, stringAttribute, stringListAttribute, withH5File, writeStringListAttribute } from './hdf5.ts';
import { importKerasModel } from './import-keras.ts';
import { UnsupportedKerasModelError, parseKerasModelConfig } from './keras-layers.ts';
import { kerasSnakeCase, kerasV3LayerPaths } from './read-keras-file.ts';

/** float32 inference against numpy's float64: rounding only. */
const MAX_FIXTURE_DIFF = 1e-5;
const BATCH = 8;
const fixture = (file: string) => join(import.meta.dirname, 'fixtures', file);
/** What make-fixtures.py computed with numpy for fixtureInputs(images). */
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as { images: number; probabilities: number[][]; digits: number[] };

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-keras-'));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function predict(model: tf.LayersModel, batch: Float32Array): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor4d(batch, [batch.length / 784, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
}

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

/** Every weight random (batch-norm statistics too, so they matter); variances and gammas stay positive. */
function randomizeWeights(model: tf.LayersModel, seed: number): void {
  model.setWeights(
    model.weights.map((w, i) => {
      const size = w.shape.reduce((a, b) => a! * b!, 1)!;
      const positive = w.originalName.endsWith('moving_variance') || w.originalName.endsWith('gamma');
      return tf.tensor(positive ? uniform(size, seed + i, 0.5, 1.5) : uniform(size, seed + i, -0.5, 0.5), w.shape as number[]);
    }),
  );
}

const testBatch = () => {
  const batch = new Float32Array(BATCH * 784);
  batch.set(fixtureInputs(BATCH / 2));
  batch.set(uniform((BATCH / 2) * 784, 7), (BATCH / 2) * 784);
  return batch;
};

type LayerEntry = { class_name: string; config: Record<string, unknown> };

/** A Keras 2 style Sequential config: an InputLayer, then `layers`. */
function sequential(layers: LayerEntry[], inputShape: number[] = [28, 28, 1], className = 'Sequential') {
  return { class_name: className, config: { name: 'test', layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, ...inputShape], name: 'input' } }, ...layers] } };
}
const conv = (name: string, options: Record<string, unknown> = {}): LayerEntry => ({
  class_name: 'Conv2D',
  config: { name, filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'relu', use_bias: true, ...options },
});
const pool: LayerEntry = { class_name: 'MaxPooling2D', config: { name: 'pool', pool_size: [2, 2], strides: null, padding: 'valid' } };
const flatten: LayerEntry = { class_name: 'Flatten', config: { name: 'flatten' } };
const dense = (options: Record<string, unknown> = {}): LayerEntry => ({ class_name: 'Dense', config: { name: 'dense', units: 10, activation: 'softmax', use_bias: true, ...options } });

describe('importing the fixtures (known weights, outputs computed by numpy)', () => {
  it.each([
    ['tiny-cnn.h5', 'legacy-h5', '2.15.0'],
    ['tiny-cnn.keras', 'keras-v3', '3.5.0'],
  ])('%s predicts what numpy computed', async (file, format, kerasVersion) => {
    const before = tf.memory().numTensors;
    const imported = await importKerasModel(fixture(file));
    try {
      expect(imported).toMatchObject({ format, kerasVersion, layers: 8, appendedSoftmax: false });
      expect(imported.model.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'BatchNormalization', 'MaxPooling2D', 'Conv2D', 'Activation', 'Flatten', 'Dropout', 'Dense']);
      const probabilities = predict(imported.model, fixtureInputs(expected.images));
      expected.probabilities.flat().forEach((p, i) => expect(Math.abs(probabilities[i]! - p)).toBeLessThan(MAX_FIXTURE_DIFF));
      const digits = Array.from({ length: expected.images }, (_, n) => {
        const row = Array.from(probabilities.subarray(n * 10, n * 10 + 10));
        return row.indexOf(Math.max(...row));
      });
      expect(digits).toEqual(expected.digits);
    } finally {
      imported.model.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it("finds Keras 3 weights where saving_lib puts them (snake_case class, _1 for a repeat)", () => {
    expect(['Conv2D', 'MaxPooling2D', 'BatchNormalization', 'ReLU', 'Dense'].map(kerasSnakeCase)).toEqual(['conv2d', 'max_pooling2d', 'batch_normalization', 're_lu', 'dense']);
    const spec = parseKerasModelConfig(sequential([conv('a'), conv('b'), pool, conv('c', { padding: 'valid' }), flatten, dense()]));
    expect(kerasV3LayerPaths(spec.layers)).toEqual(['conv2d', 'conv2d_1', 'max_pooling2d', 'conv2d_2', 'flatten', 'dense']);
  });
});

describe('exporting to Keras HDF5 and back', () => {
  it.each(ARCHITECTURES)('%s: export -> import gives the same predictions', async (architecture) => {
    const model = buildModel(architecture, 3);
    randomizeWeights(model, 11);
    const path = join(tempDir(), `${architecture}.h5`);
    const written = await exportKerasH5(model, path);
    expect(written).toMatchObject({ path, kerasVersion: KERAS_EXPORT_VERSION, layers: model.layers.length });
    const imported = await importKerasModel(path);
    try {
      expect(imported).toMatchObject({ format: 'legacy-h5', kerasVersion: KERAS_EXPORT_VERSION, appendedSoftmax: false });
      const batch = testBatch();
      expect(predict(imported.model, batch)).toEqual(predict(model, batch));
    } finally {
      imported.model.dispose();
      model.dispose();
    }
  });

  it("writes Keras's legacy layout: attributes, model_config, layer_names, weight_names, <layer>/<layer>/kernel:0", async () => {
    const model = buildModel('tiny', 1);
    randomizeWeights(model, 5);
    const path = join(tempDir(), 'tiny.h5');
    await exportKerasH5(model, path);
    const names = model.layers.map((l) => l.name);
    const [conv1, bn1, relu1] = names as [string, string, string];
    await withH5File(path, 'r', (file) => {
      expect(stringAttribute(file, 'keras_version')).toBe(KERAS_EXPORT_VERSION);
      expect(stringAttribute(file, 'backend')).toBe(KERAS_EXPORT_BACKEND);
      const config = JSON.parse(stringAttribute(file, 'model_config')!) as { class_name: string; config: { layers: LayerEntry[] } };
      expect(config.class_name).toBe('Sequential');
      expect(config.config.layers[0]).toMatchObject({ class_name: 'InputLayer', config: { batch_input_shape: [null, 28, 28, 1] } });
      expect(config.config.layers.slice(1).map((l) => l.class_name)).toEqual(model.layers.map((l) => l.getClassName()));
      expect(config.config.layers[1]!.config).toMatchObject({ name: conv1, filters: 8, kernel_size: [3, 3], padding: 'same', use_bias: false, activation: 'linear' });
      const weights = getGroup(file, 'model_weights')!;
      expect(stringListAttribute(weights, 'layer_names')).toEqual(names);
      expect(stringListAttribute(getGroup(weights, conv1)!, 'weight_names')).toEqual([`${conv1}/kernel:0`]);
      expect(stringListAttribute(getGroup(weights, bn1)!, 'weight_names')).toEqual(['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => `${bn1}/${w}:0`));
      expect(stringListAttribute(getGroup(weights, relu1)!, 'weight_names')).toEqual([]);
      const kernel = readFloatDataset(weights, `${conv1}/${conv1}/kernel:0`);
      expect(kernel.shape).toEqual([3, 3, 1, 8]);
      expect(kernel.values).toEqual(model.getLayer(conv1).getWeights()[0]!.dataSync());
    });
    model.dispose();
  });

  it('a model ending in logits gets a softmax on import (same digit, probabilities served); a ReLU layer goes out as Activation', async () => {
    const model = tf.sequential({ name: 'logits' });
    model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2 }));
    model.add(tf.layers.reLU());
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 10 }));
    randomizeWeights(model, 9);
    const path = join(tempDir(), 'logits.h5');
    await exportKerasH5(model, path);
    const imported = await importKerasModel(path);
    try {
      expect(imported.appendedSoftmax).toBe(true);
      const batch = testBatch();
      const expectedProbabilities = tf.tidy(() => tf.softmax(tf.tensor2d(predict(model, batch), [BATCH, 10])).dataSync());
      predict(imported.model, batch).forEach((p, i) => expect(p).toBeCloseTo(expectedProbabilities[i]!, 6));
    } finally {
      imported.model.dispose();
      model.dispose();
    }
  });

  it('refuses a model with a layer Keras export does not cover, writing nothing', async () => {
    const model = tf.sequential({ name: 'avg' });
    model.add(tf.layers.averagePooling2d({ inputShape: [28, 28, 1], poolSize: 2, name: 'avg_pool' }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
    const path = join(tempDir(), 'avg.h5');
    await expect(exportKerasH5(model, path)).rejects.toThrow(/layer "avg_pool" \(AveragePooling2D\) is not supported/);
    expect(existsSync(path)).toBe(false);
    model.dispose();
  });
});

describe('refusals name the layer and the option', () => {
  it.each<[string, unknown, RegExp]>([
    ['a recurrent layer', sequential([{ class_name: 'LSTM', config: { name: 'lstm', units: 8 } }, dense()], [28, 28]), /layer "lstm" \(LSTM\) is not supported: digitq imports Sequential CNNs of Conv2D/],
    ['causal padding', sequential([conv('c', { padding: 'causal' }), flatten, dense()]), /layer "c" \(Conv2D\): padding "causal" is not supported \(valid, same\)/],
    ['channels_first', sequential([conv('c', { data_format: 'channels_first' }), flatten, dense()]), /layer "c" \(Conv2D\): data_format "channels_first" is not supported/],
    ['grouped convolution', sequential([conv('c', { groups: 2 }), flatten, dense()]), /layer "c" \(Conv2D\): groups 2 is not supported/],
    ['an activation ONNX export lacks', sequential([conv('c', { activation: 'gelu' }), flatten, dense()]), /layer "c" \(Conv2D\): activation "gelu" is not supported \(linear, relu, sigmoid, tanh, softmax\)/],
    ['dropout with a noise shape', sequential([conv('c'), flatten, { class_name: 'Dropout', config: { name: 'drop', rate: 0.5, noise_shape: [1, 1] } }, dense()]), /layer "drop" \(Dropout\): noise_shape \[1,1\]/],
    ['batch norm over rows', sequential([conv('c'), { class_name: 'BatchNormalization', config: { name: 'bn', axis: 1 } }, flatten, dense()]), /layer "bn" \(BatchNormalization\): axis 1 is not supported/],
    ['a functional model', sequential([conv('c'), flatten, dense()], [28, 28, 1], 'Functional'), /model class "Functional" is not supported/],
    ['three channels', sequential([conv('c'), flatten, dense()], [28, 28, 3]), /the model's input is 28x28x3; digitq feeds 28x28x1 images/],
    ['a 2-D input', sequential([flatten, dense()], [28, 28]), /the model's input is 28x28;/],
    ['five classes', sequential([conv('c'), flatten, dense({ units: 5 })]), /outputs 5 values per image; digitq needs 10/],
    ['dense on a feature map', sequential([conv('c'), dense()]), /layer "dense" \(Dense\) gets a 28x28x4 input: put a Flatten before it/],
    ['a sigmoid output', sequential([conv('c'), flatten, dense({ activation: 'sigmoid' })]), /ends in layer "dense" \(Dense\) with activation "sigmoid"/],
  ])('%s', (_, config, message) => {
    expect(() => parseKerasModelConfig(config)).toThrow(UnsupportedKerasModelError);
    expect(() => parseKerasModelConfig(config)).toThrow(message);
  });

  it('accepts logits, ReLU and Softmax layers, strides and dilation', () => {
    const spec = parseKerasModelConfig(
      sequential([
        conv('c1', { strides: [2, 2], activation: 'linear' }),
        { class_name: 'ReLU', config: { name: 'r', max_value: null, negative_slope: 0, threshold: 0 } },
        conv('c2', { dilation_rate: [2, 2], padding: 'valid' }),
        flatten,
        dense({ activation: 'linear' }),
      ]),
    );
    expect(spec.output).toBe('logits');
    expect(spec.layers.map((l) => l.kind)).toEqual(['Conv2D', 'Activation', 'Conv2D', 'Flatten', 'Dense']);
    expect(parseKerasModelConfig(sequential([conv('c'), flatten, dense({ activation: 'linear' }), { class_name: 'Softmax', config: { name: 's', axis: -1 } }])).output).toBe('probabilities');
  });

  it('an .h5 with an LSTM is refused naming it', async () => {
    const path = join(tempDir(), 'lstm.h5');
    await withH5File(path, 'w', (file) => {
      file.create_attribute('keras_version', '2.15.0');
      file.create_attribute('backend', 'tensorflow');
      file.create_attribute('model_config', JSON.stringify(sequential([{ class_name: 'LSTM', config: { name: 'lstm', units: 8 } }, dense()], [28, 28])));
      writeStringListAttribute(file.create_group('model_weights'), 'layer_names', ['lstm', 'dense']);
    });
    await expect(importKerasModel(path)).rejects.toThrow(/layer "lstm" \(LSTM\) is not supported/);
  });

  it('a weights-only .h5 or a file of neither format is refused saying what it is', async () => {
    const weightsOnly = join(tempDir(), 'weights.h5');
    await withH5File(weightsOnly, 'w', (file) => writeStringListAttribute(file, 'layer_names', ['dense']));
    await expect(importKerasModel(weightsOnly)).rejects.toThrow(/has no model_config: it holds weights only \(model.save_weights\)/);
    const text = join(tempDir(), 'model.h5');
    writeFileSync(text, 'not a model');
    await expect(importKerasModel(text)).rejects.toThrow(KerasFileError);
    await expect(importKerasModel(text)).rejects.toThrow(/neither HDF5 .* nor a zip/);
  });
});
