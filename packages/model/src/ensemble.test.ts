import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { loadMnist, sliceDataset, type DigitDataset } from '@digitq/datasets';
import { useTempDirs } from '@digitq/test-utils';
import { buildModel } from './architecture.ts';
import { initBackend } from './backend/select-backend.ts';
import { buildEnsemble } from './ensemble.ts';
import { OnnxEngine } from './engines/onnx-engine.ts';
import { encodeOnnxModel } from './onnx/onnx-proto.ts';
import { layersModelToOnnx } from './onnx/export.ts';
import { loadLayersModel, saveLayersModel } from './storage/file-io.ts';

const tempDir = useTempDirs('digitq-ensemble-');
let test: DigitDataset;
let batch: Float32Array;

beforeAll(async () => {
  await initBackend('wasm');
  test = sliceDataset(await loadMnist(loadConfig().DATA_DIR, 'test'), 0, 64);
  batch = Float32Array.from(test.images, (v) => v / 255);
});

async function predict(model: tf.LayersModel): Promise<Float32Array> {
  const out = tf.tidy(() => model.predict(tf.tensor4d(batch, [test.count, 28, 28, 1])) as tf.Tensor);
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('buildEnsemble', () => {
  it('averages its members, survives a save and load, and exports to one ONNX graph that agrees', async () => {
    // Two differently initialised nets: their average is neither of them.
    const a = buildModel('tiny', 1);
    const b = buildModel('tiny', 2);
    const [pa, pb] = [await predict(a), await predict(b)];
    const ensemble = await buildEnsemble([a, b]);
    const expected = pa.map((v, i) => (v + pb[i]!) / 2);
    expect(maxDiff(await predict(ensemble), expected)).toBeLessThan(1e-6);
    expect(maxDiff(pa, pb)).toBeGreaterThan(0.01);

    const dir = tempDir();
    await saveLayersModel(ensemble, dir);
    const reloaded = await loadLayersModel(dir);
    expect(maxDiff(await predict(reloaded), expected)).toBeLessThan(1e-6);

    const onnx = await OnnxEngine.load(encodeOnnxModel(layersModelToOnnx(reloaded)));
    expect(maxDiff(await onnx.predict(batch), expected)).toBeLessThan(1e-5);
    await onnx.dispose();
    for (const model of [a, b, ensemble, reloaded]) model.dispose();
  });

  it('refuses fewer than two members', async () => {
    await expect(buildEnsemble([buildModel('tiny', 1)])).rejects.toThrow(/at least two/);
  });
});
