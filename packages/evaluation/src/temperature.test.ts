import { describe, expect, it } from 'vitest';
import { expectedCalibrationError } from './metrics.ts';
import { TEMPERATURE_RANGE, applyTemperature, fitTemperature } from './temperature.ts';

/** A small seeded generator (mulberry32), so the synthetic set is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function softmax(logits: number[], temperature: number): number[] {
  const scaled = logits.map((z) => z / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((z) => Math.exp(z - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/**
 * Images whose true digits are drawn from softmax(z / trueT), while the
 * "model" reports softmax(z): a model miscalibrated by exactly trueT.
 */
function miscalibratedSet(trueT: number, n: number, seed: number): { labels: Uint8Array; probabilities: Float32Array } {
  const random = seeded(seed);
  const labels = new Uint8Array(n);
  const probabilities = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) {
    // One favoured digit with a margin of 2-8, the rest noise: confident, MNIST-like logits.
    const favoured = Math.floor(random() * 10);
    const logits = Array.from({ length: 10 }, (_, d) => random() * 2 + (d === favoured ? 2 + random() * 6 : 0));
    const truth = softmax(logits, trueT);
    let u = random();
    let label = 9;
    for (let d = 0; d < 10; d++) {
      u -= truth[d]!;
      if (u < 0) {
        label = d;
        break;
      }
    }
    labels[i] = label;
    probabilities.set(softmax(logits, 1), i * 10);
  }
  return { labels, probabilities };
}

describe('fitTemperature', () => {
  it.each([0.5, 1, 2.5])('recovers a known temperature (%s) from probabilities miscalibrated by it', (trueT) => {
    const { labels, probabilities } = miscalibratedSet(trueT, 8000, 7);
    const fitted = fitTemperature(labels, probabilities);
    expect(Math.abs(fitted / trueT - 1)).toBeLessThan(0.06);
  });

  it('lowers the calibration error it was fitted for', () => {
    const { labels, probabilities } = miscalibratedSet(2.5, 8000, 11);
    const t = fitTemperature(labels, probabilities);
    const before = expectedCalibrationError(labels, probabilities);
    const after = expectedCalibrationError(labels, applyTemperature(probabilities, t));
    expect(before).toBeGreaterThan(0.05);
    expect(after).toBeLessThan(before / 3);
  });

  it('stays in its range when the answers are always right or the set is empty', () => {
    const probabilities = new Float32Array(10).fill(0.05);
    probabilities[3] = 0.55;
    // Always right: sharper is always better, up to the range's end.
    expect(fitTemperature([3], probabilities)).toBeCloseTo(TEMPERATURE_RANGE.min, 3);
    expect(fitTemperature([], new Float32Array(0))).toBe(1);
  });
});

describe('applyTemperature', () => {
  const probabilities = new Float32Array([0.7, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.55]);

  it('softens (T > 1) or sharpens (T < 1) without changing the predicted digit, rows summing to 1', () => {
    const soft = applyTemperature(probabilities, 2);
    const sharp = applyTemperature(probabilities, 0.5);
    expect(soft[0]).toBeLessThan(0.7);
    expect(sharp[0]).toBeGreaterThan(0.7);
    // softmax(log p / 2) = sqrt(p) normalised: 0.7 -> sqrt(.7) / (sqrt(.7) + sqrt(.2) + sqrt(.1)).
    expect(soft[0]).toBeCloseTo(Math.sqrt(0.7) / (Math.sqrt(0.7) + Math.sqrt(0.2) + Math.sqrt(0.1)), 5);
    for (const out of [soft, sharp]) {
      for (let row = 0; row < 2; row++) {
        const values = Array.from(out.subarray(row * 10, row * 10 + 10));
        expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
      expect(out.indexOf(Math.max(...out.subarray(10, 20)), 10)).toBe(19);
    }
  });

  it('leaves probabilities as they are at T = 1 and refuses a temperature that is not positive', () => {
    expect(Array.from(applyTemperature(probabilities, 1))).toEqual(Array.from(probabilities));
    expect(() => applyTemperature(probabilities, 0)).toThrow(RangeError);
    expect(() => applyTemperature(probabilities, Number.NaN)).toThrow(RangeError);
  });
});

describe('fitTemperature with confidently wrong answers', () => {
  it('is not dragged by two images whose true digit got p = 1e-25 (their terms are capped as in the reported NLL)', () => {
    const { labels, probabilities } = miscalibratedSet(1, 2000, 5);
    const withOutliers = new Float32Array(probabilities);
    // Images 0 and 1 now say 0.99999 for a digit they are not, and 1e-25 for their own.
    for (const i of [0, 1]) {
      const row = withOutliers.subarray(i * 10, i * 10 + 10);
      row.fill(1e-6);
      row[(labels[i]! + 1) % 10] = 1 - 9e-6;
      row[labels[i]!] = 1e-25;
    }
    const clean = fitTemperature(labels, probabilities);
    const dragged = fitTemperature(labels, withOutliers);
    expect(Math.abs(dragged / clean - 1)).toBeLessThan(0.03);
  });
});
