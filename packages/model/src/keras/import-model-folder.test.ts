/**
 * A Keras file becoming a model version: refused before anything is written
 * when it fails the input-convention check on MNIST test images, and
 * otherwise written with its model.onnx and the check's accuracy. The
 * passing case is digitq's own trained model (models/digitnet/v1) gone out
 * to Keras's format and back: a real classifier that follows the convention.
 * Needs the MNIST test split in DATA_DIR.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { modelMetadataSchema } from '@digitq/contracts';
import { loadMnist, type DigitDataset } from '@digitq/datasets';
import { sha256 } from '@digitq/registry';
import { initBackend } from '../backend/select-backend.ts';
import { MODEL_ONNX, readOnnxFromModelFolder } from '../onnx/onnx-folder.ts';
import { loadModelFolder, readModelMetadata } from '../storage/model-folder.ts';
import { exportKerasH5 } from './export-keras.ts';
import { importKerasModelFolder } from './import-model-folder.ts';
import { INPUT_CHECK_IMAGES, InputConventionError } from './input-convention.ts';

const REPO_ROOT = resolve(import.meta.dirname, '../../../..');
const PRODUCTION_MODEL_DIR = join(REPO_ROOT, 'models', 'digitnet', 'v1');
/** digitnet@v1 scores 99.68% on the whole test set; on its first 1,000 images an import must keep that. */
const MIN_IMPORTED_ACCURACY = 0.99;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-keras-import-'));
  dirs.push(dir);
  return dir;
}

let testSet: DigitDataset;
beforeAll(async () => {
  await initBackend('wasm');
  testSet = await loadMnist(resolve(REPO_ROOT, loadConfig().DATA_DIR), 'test');
});
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('importKerasModelFolder', () => {
  it('refuses a model that does not take 28x28x1 [0, 1] white-on-black input, before allocating or writing anything', async () => {
    const modelsDir = tempDir();
    const allocated: string[] = [];
    const attempt = importKerasModelFolder({
      file: join(import.meta.dirname, 'fixtures', 'tiny-cnn.h5'),
      modelsDir,
      name: 'imported',
      allocateVersion: async () => {
        allocated.push('v1');
        return 'v1';
      },
      testSet,
      backend: 'wasm',
      command: 'test',
    });
    await expect(attempt).rejects.toThrow(InputConventionError);
    await expect(attempt).rejects.toThrow(/scores \d+\.\d% on 1000 MNIST test images \(at least 50\.0% needed\): it does not seem to take digitq's input, 28x28x1 pixels scaled to \[0, 1\], white digit on black/);
    expect(allocated).toEqual([]);
    expect(existsSync(join(modelsDir, 'imported'))).toBe(false);
  });

  it("digitnet@v1 exported to .h5 imports as a new version with its model.onnx, the check's accuracy and its source", async () => {
    const { model, metadata: original } = await loadModelFolder(PRODUCTION_MODEL_DIR);
    const file = join(tempDir(), 'digitnet-v1.h5');
    try {
      await exportKerasH5(model, file);
    } finally {
      model.dispose();
    }
    const modelsDir = tempDir();
    const result = await importKerasModelFolder({ file, modelsDir, name: 'digitnet', allocateVersion: async () => 'v7', testSet, backend: 'wasm', command: 'npm run model:import -- digitnet-v1.h5' });

    const dir = join(modelsDir, 'digitnet', 'v7');
    expect(result.metadata.dir).toBe(dir);
    const metadata = await readModelMetadata(dir);
    expect(metadata).toEqual(modelMetadataSchema.parse(metadata));
    expect(metadata).toMatchObject({
      name: 'digitnet',
      version: 'v7',
      architecture: 'keras:digitnet-bn',
      source: 'imported from digitnet-v1.h5 (Keras 2.15.0, legacy HDF5)',
      parameters: original.parameters,
      metrics: { test_count: INPUT_CHECK_IMAGES, val_accuracy: null },
      training: { command: 'npm run model:import -- digitnet-v1.h5' },
    });
    expect(metadata.metrics.test_accuracy).toBeGreaterThanOrEqual(MIN_IMPORTED_ACCURACY);
    expect(metadata.metrics.test_accuracy).toBe(result.evaluation.accuracy);
    // The same weights, byte for byte, after the trip through Keras's format.
    expect(metadata.files['weights.bin']).toBe(original.files['weights.bin']);
    expect(metadata.files[MODEL_ONNX]).toBe(sha256(readFileSync(join(dir, MODEL_ONNX))));
    expect(result.onnx.sha256).toBe(metadata.files[MODEL_ONNX]);
    await expect(readOnnxFromModelFolder(dir)).resolves.toBeInstanceOf(Uint8Array);
  });
});
