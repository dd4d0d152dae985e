import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { loadMnist, type DigitDataset } from '@digitq/datasets';
import { ROBUSTNESS_DEGRADATIONS, degradeForTraining, randomDegradation } from './degrade.ts';
import { encodeGreyPng } from './png.ts';
import { preprocessDigitImage, preprocessGreyImage } from './preprocess.ts';
import type { GreyImage } from './decode.ts';

let test: DigitDataset;
const digit = (i: number) => test.images.subarray(i * 784, (i + 1) * 784);
const byId = (id: string) => ROBUSTNESS_DEGRADATIONS.find((d) => d.id === id)!;
/** Ink on paper: how much darker than white, summed. */
const inkMass = (image: GreyImage) => image.data.reduce((sum, v) => sum + (255 - v), 0) / (image.width * image.height);

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

beforeAll(async () => {
  test = await loadMnist(loadConfig().DATA_DIR, 'test');
});

describe('the robustness suite degradations', () => {
  it('have unique ids and give dark ink on white paper at the promised sizes', () => {
    expect(new Set(ROBUSTNESS_DEGRADATIONS.map((d) => d.id)).size).toBe(ROBUSTNESS_DEGRADATIONS.length);
    const sizes = Object.fromEntries(ROBUSTNESS_DEGRADATIONS.map((d) => [d.id, d.apply(digit(0))]).map(([id, image]) => [id, `${(image as GreyImage).width}x${(image as GreyImage).height}`]));
    expect(sizes).toMatchObject({ clean: '28x28', 'downsample-16': '16x16', 'downsample-8': '8x8', 'scan-16': '16x16', 'scan-8': '8x8', 'stroke-thick': '112x112' });
    const clean = byId('clean').apply(digit(0));
    // MNIST's black background becomes white paper.
    expect(clean.data[0]).toBe(255);
    expect(clean.data.reduce((min, v) => Math.min(min, v), 255)).toBeLessThan(10);
  });

  it('binarise to pure black and white', () => {
    for (const id of ['binarise-0.5', 'scan-16', 'scan-8']) {
      const values = new Set(byId(id).apply(digit(3)).data);
      expect([...values].every((v) => v === 0 || v === 255), id).toBe(true);
    }
    // A higher threshold keeps less of the soft stroke edges.
    expect(inkMass(byId('binarise-0.75').apply(digit(3)))).toBeLessThan(inkMass(byId('binarise-0.25').apply(digit(3))));
  });

  it('change the pen: thick has more ink than clean, thin less', () => {
    for (let i = 0; i < 5; i++) {
      const clean = inkMass(byId('clean').apply(digit(i)));
      expect(inkMass(byId('stroke-thick').apply(digit(i)))).toBeGreaterThan(clean * 1.3);
      expect(inkMass(byId('stroke-thin').apply(digit(i)))).toBeLessThan(clean * 0.8);
    }
  });

  it('stretch a digit to touch its box on all sides, and the preprocessing still finds it', async () => {
    // Test digit 3 is a 0: wide enough to reach all four edges once stretched.
    expect(test.labels[3]).toBe(0);
    const image = byId('stretch-fill').apply(digit(3));
    const row = (y: number) => image.data.subarray(y * image.width, (y + 1) * image.width);
    expect(row(0).some((v) => v < 128)).toBe(true);
    expect(row(image.height - 1).some((v) => v < 128)).toBe(true);
    const found = await preprocessDigitImage(encodeGreyPng(image));
    expect(found.pixels.reduce((a, b) => a + b, 0)).toBeGreaterThan(30);
  });

  it('every degradation of the first 50 test digits is an image the API accepts (8x8 cells included)', async () => {
    for (const degradation of ROBUSTNESS_DEGRADATIONS.filter((d) => d.id !== 'scan-8')) {
      for (let i = 0; i < 50; i++) {
        const result = await preprocessDigitImage(encodeGreyPng(degradation.apply(digit(i))));
        expect(result.pixels).toHaveLength(784);
      }
    }
  });
});

describe('training degradations', () => {
  it('repeat for the same seed and differ between seeds', () => {
    const a = randomDegradation(digit(7), seeded(1));
    const b = randomDegradation(digit(7), seeded(1));
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    const variants = new Set(Array.from({ length: 20 }, (_, s) => Buffer.from(randomDegradation(digit(7), seeded(s + 2)).data).toString('base64')));
    // One in five is left as it is, so about four of the twenty coincide.
    expect(variants.size).toBeGreaterThan(12);
  });

  it('give the model input the serving preprocessing would give for that upload', async () => {
    const random = seeded(5);
    for (let i = 0; i < 20; i++) {
      const image = randomDegradation(digit(i), random);
      // A degradation may erase a thin digit altogether: then both paths must say so.
      const direct = (() => {
        try {
          return Array.from(preprocessGreyImage(image).pixels);
        } catch (error) {
          return (error as { code?: string }).code;
        }
      })();
      const uploaded = await preprocessDigitImage(encodeGreyPng(image)).then((d) => Array.from(d.pixels), (error: { code?: string }) => error.code);
      expect(direct).toEqual(uploaded);
    }
    const pixels = degradeForTraining(digit(1), seeded(9))!;
    expect(pixels).toHaveLength(784);
    expect(pixels.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});
