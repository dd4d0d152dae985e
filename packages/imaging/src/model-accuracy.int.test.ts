/**
 * The point of this file is the production model: preprocessing must hand it
 * inputs as good as MNIST's own. Needs the MNIST test split in DATA_DIR and a
 * trained model in MODELS_DIR (both from @digitq/config, relative paths taken
 * from the repository root). Without a model the suite is skipped, and says so.
 *
 *   DATA_DIR=/path/to/mnist npx vitest run packages/imaging/src/model-accuracy.int.test.ts
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { MNIST_PIXELS, MNIST_SIDE, loadMnist, type DigitDataset } from '@digitq/datasets';
import { initBackend, loadModelFolder, predictDigits, resolveModelDir } from '@digitq/model';
import { preprocessDigitImage, preprocessDigitImages } from './preprocess.ts';
import { renderDigitImage, type RenderDigitOptions } from './test-images.ts';

const MODEL = 'digitnet';
const SAMPLE_SIZE = 1000;
/** Accuracy on re-encoded photos may differ from accuracy on the raw tensors by at most this many points. */
const MAX_ACCURACY_GAP_POINTS = 0.5;
/** MNIST digit upscaled x10 (280 px), then padded with paper to 390x370 at an offset that varies per image. */
const UPSCALE = 10;
const PAD_X = 110;
const PAD_Y = 90;
const WHITE = 255;

const config = loadConfig();
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const modelsDir = resolve(repoRoot, config.MODELS_DIR);
const dataDir = resolve(repoRoot, config.DATA_DIR);
const modelDir = await resolveModelDir(modelsDir, MODEL).catch(() => null);
const title = modelDir
  ? `model ${MODEL} (${modelDir}) on preprocessed images`
  : `model ${MODEL} on preprocessed images — SKIPPED: no trained model "${MODEL}" in ${modelsDir} (train one, or set MODELS_DIR)`;

/** Every (count / SAMPLE_SIZE)-th test digit: deterministic and spread over the whole split. */
function sampleIndices(set: DigitDataset): number[] {
  const step = Math.floor(set.count / SAMPLE_SIZE);
  return Array.from({ length: SAMPLE_SIZE }, (_, k) => k * step);
}

function mnistImage(set: DigitDataset, index: number): Uint8Array {
  return set.images.subarray(index * MNIST_PIXELS, (index + 1) * MNIST_PIXELS);
}

/** A MNIST digit as a user might photograph it: large, dark ink on white paper, off-centre, PNG. */
async function asLargeDarkOnLightPng(pixels: Uint8Array, k: number): Promise<Buffer> {
  const inverted = Buffer.from(pixels.map((v) => WHITE - v));
  const left = (k * 37) % PAD_X;
  const top = (k * 53) % PAD_Y;
  // Two pipelines: sharp would otherwise apply negate/extend in its own order.
  return sharp(inverted, { raw: { width: MNIST_SIDE, height: MNIST_SIDE, channels: 1 } })
    .resize(MNIST_SIDE * UPSCALE, MNIST_SIDE * UPSCALE, { kernel: 'lanczos3' })
    .extend({ left, top, right: PAD_X - left, bottom: PAD_Y - top, background: { r: WHITE, g: WHITE, b: WHITE } })
    .png()
    .toBuffer();
}

function accuracy(predictions: { prediction: number }[], labels: number[]): number {
  return predictions.filter((p, i) => p.prediction === labels[i]).length / labels.length;
}

describe.skipIf(!modelDir)(title, () => {
  let model: tf.LayersModel;
  let test: DigitDataset;

  beforeAll(async () => {
    await initBackend('wasm');
    model = (await loadModelFolder(modelDir!)).model;
    test = await loadMnist(dataDir, 'test');
  });

  it(
    `classifies ${SAMPLE_SIZE} MNIST test digits re-encoded as large dark-on-light PNGs within ${MAX_ACCURACY_GAP_POINTS} points of the raw tensors`,
    async ({ annotate }) => {
      const indices = sampleIndices(test);
      const labels = indices.map((i) => test.labels[i]!);
      const raw = indices.map((i) => Float32Array.from(mnistImage(test, i), (v) => v / WHITE));
      const pngs = await Promise.all(indices.map((i, k) => asLargeDarkOnLightPng(mnistImage(test, i), k)));

      const tensorsBefore = tf.memory().numTensors;
      const results = await preprocessDigitImages(pngs);
      const preprocessed = results.map((r) => {
        if (!r.ok) throw r.error;
        return r.digit.pixels;
      });
      const rawAccuracy = accuracy(await predictDigits(model, raw), labels);
      const photoAccuracy = accuracy(await predictDigits(model, preprocessed), labels);
      expect(tf.memory().numTensors).toBe(tensorsBefore);

      const gap = 100 * Math.abs(rawAccuracy - photoAccuracy);
      await annotate(
        `raw tensors ${(100 * rawAccuracy).toFixed(2)}%, re-encoded PNGs ${(100 * photoAccuracy).toFixed(2)}%, gap ${gap.toFixed(2)} points (n=${SAMPLE_SIZE})`,
      );
      expect(results.every((r) => r.ok && r.digit.polarity === 'dark-on-light')).toBe(true);
      expect(gap).toBeLessThanOrEqual(MAX_ACCURACY_GAP_POINTS);
    },
    600_000,
  );

  it('leaves raw MNIST crops (28x28 white-on-black PNG) almost unchanged', async () => {
    const indices = sampleIndices(test).slice(0, 200);
    let totalDiff = 0;
    for (const i of indices) {
      const original = mnistImage(test, i);
      const png = await sharp(Buffer.from(original), { raw: { width: MNIST_SIDE, height: MNIST_SIDE, channels: 1 } }).png().toBuffer();
      const digit = await preprocessDigitImage(png);
      expect(digit.polarity).toBe('light-on-dark');
      let diff = 0;
      for (let p = 0; p < MNIST_PIXELS; p++) diff += Math.abs(digit.pixels[p]! - original[p]! / WHITE);
      totalDiff += diff / MNIST_PIXELS;
    }
    expect(totalDiff / indices.length).toBeLessThan(0.02);
  });

  const VARIANTS: [string, Omit<RenderDigitOptions, 'digit'>][] = [
    ['dark-on-light PNG', {}],
    ['light-on-dark JPEG, off-centre', { format: 'jpeg', polarity: 'light-on-dark', width: 500, height: 400, offsetX: 120, offsetY: -60, digitHeight: 200 }],
    ['1000x800 photo-like JPEG', { format: 'jpeg', photo: true, width: 1000, height: 800, offsetX: -180, offsetY: 90, digitHeight: 360 }],
    ['PNG with alpha, rotated by EXIF', { alpha: true, exifOrientation: 6, width: 320, height: 240 }],
    ['sheet of paper on a desk, tilted', { format: 'jpeg', width: 1000, height: 800, sheet: { width: 520, height: 460, angle: -9 }, digitHeight: 240 }],
    ['thin ballpoint line, photographed large', { format: 'jpeg', photo: true, width: 1000, height: 800, digitHeight: 650, strokeFraction: 0.025 }],
  ];

  it.each(VARIANTS)('recognises the rendered digits 0-9 (%s)', async (_, variant) => {
    const digits = Array.from({ length: 10 }, (_, digit) => digit);
    const inputs = await Promise.all(digits.map((digit) => renderDigitImage({ ...variant, digit, seed: digit + 1 })));
    const results = await preprocessDigitImages(inputs);
    const pixels = results.map((r) => {
      if (!r.ok) throw r.error;
      return r.digit.pixels;
    });
    const predictions = await predictDigits(model, pixels);
    expect(predictions.map((p) => p.prediction)).toEqual(digits);
  });
});
