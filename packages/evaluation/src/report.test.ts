import { describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, evaluationReportSchema } from '@digitq/contracts';
import { expectedCalibrationError } from './metrics.ts';
import { EVALUATION_BATCH, compareReports, evaluateVersion, type Classify, type LabelledImages } from './report.ts';
import type { RobustnessSet } from './robustness-suite.ts';
import { applyTemperature } from './temperature.ts';

/**
 * Images that tell a fake model what to answer: pixel 0 holds the true digit
 * (/ 9), pixel 1 is 1 when the model should read it as the next digit. The
 * model is over-confident: 0.99 on whatever it reads.
 */
function images(n: number, wrongEvery: number): LabelledImages {
  const pixels = new Float32Array(n * PIXELS_PER_IMAGE);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 10;
    pixels[i * PIXELS_PER_IMAGE] = labels[i]! / 9;
    pixels[i * PIXELS_PER_IMAGE + 1] = i % wrongEvery === 0 ? 1 : 0;
  }
  return { pixels, labels };
}

const calls: number[] = [];
const overConfident: Classify = async (pixels, n) => {
  calls.push(n);
  expect(pixels.length).toBe(n * PIXELS_PER_IMAGE);
  const out = new Float32Array(n * 10).fill(0.01 / 9);
  for (let i = 0; i < n; i++) {
    const digit = Math.round(pixels[i * PIXELS_PER_IMAGE]! * 9);
    out[i * 10 + (pixels[i * PIXELS_PER_IMAGE + 1] === 1 ? (digit + 1) % 10 : digit)] = 0.99;
  }
  return out;
};

function suiteSet(id: string, n: number, wrongEvery: number): RobustnessSet {
  return { id, label: `${id} label`, count: n, rejected: 1, ...images(n, wrongEvery) } as RobustnessSet;
}

describe('evaluateVersion', () => {
  it('fits the temperature on held-out images and scores every dataset on calibrated probabilities', async () => {
    calls.length = 0;
    const mnistTest = images(1200, 20);
    const report = await evaluateVersion({
      model: { name: 'digitnet', version: 'v7' },
      classify: overConfident,
      calibration: { fitted_on: 'held-out test images', images: images(1000, 20) },
      mnistTest,
      suite: [suiteSet('scan-8', 100, 4), suiteSet('clean', 100, 50)],
      feedback: images(30, 3),
    });
    expect(evaluationReportSchema.parse(report)).toEqual(report);
    expect(Object.keys(report.datasets)).toEqual(['mnist-test', 'robustness/scan-8', 'robustness/clean', 'feedback-heldback']);
    // Batches of at most EVALUATION_BATCH: 1000 held out, 1200 test, then the small sets.
    expect(calls).toEqual([EVALUATION_BATCH, EVALUATION_BATCH, EVALUATION_BATCH, EVALUATION_BATCH, 200, 100, 100, 30]);

    const test = report.datasets['mnist-test']!;
    expect(test.accuracy).toBe(0.95);
    expect(test.error_rate).toBeCloseTo(0.05, 12);
    expect(report.datasets['robustness/scan-8']).toMatchObject({ accuracy: 0.75, label: 'scan-8 label', rejected: 1 });
    expect(report.datasets['feedback-heldback']!.count).toBe(30);

    // 95% right at 0.99: softened until confidence matches accuracy.
    const { calibration } = report;
    expect(calibration).toMatchObject({ fitted_on: 'held-out test images', count: 1000 });
    expect(calibration.temperature).toBeGreaterThan(1);
    const raw = await overConfident(mnistTest.pixels, 1200);
    expect(calibration.ece_before).toBeCloseTo(expectedCalibrationError(mnistTest.labels, raw), 12);
    expect(calibration.ece_before).toBeCloseTo(0.04, 6);
    expect(calibration.ece_after).toBe(test.ece);
    expect(calibration.ece_after).toBeLessThan(0.005);
    expect(test.ece).toBeCloseTo(expectedCalibrationError(mnistTest.labels, applyTemperature(raw, calibration.temperature)), 12);
  });

  it('uses a temperature fitted before, and leaves out feedback when there is none', async () => {
    const report = await evaluateVersion({
      model: { name: 'digitnet', version: 'v7' },
      classify: overConfident,
      calibration: { fitted_on: 'metadata', count: 3000, temperature: 1 },
      mnistTest: images(100, 20),
      suite: [],
      feedback: { pixels: new Float32Array(0), labels: [] },
    });
    expect(Object.keys(report.datasets)).toEqual(['mnist-test']);
    expect(report.calibration).toMatchObject({ temperature: 1, count: 3000, fitted_on: 'metadata' });
    expect(report.calibration.ece_after).toBeCloseTo(report.calibration.ece_before, 6);
  });
});

describe('compareReports', () => {
  it('pairs datasets and gives the error-rate ratio (null where before made no error or one side lacks the set)', async () => {
    const base = { model: { name: 'digitnet', version: 'v1' }, classify: overConfident, calibration: { fitted_on: 'x', count: 1, temperature: 1 } };
    const before = await evaluateVersion({ ...base, mnistTest: images(100, 10), suite: [suiteSet('scan-8', 100, 4)] });
    const after = await evaluateVersion({ ...base, model: { name: 'digitnet', version: 'v2' }, mnistTest: images(100, 20), suite: [], feedback: images(10, 100) });
    const rows = compareReports(before, after);
    expect(rows.map((r) => [r.dataset, r.error_ratio])).toEqual([
      ['mnist-test', 0.5],
      ['feedback-heldback', null],
      ['robustness/scan-8', null],
    ]);
    expect(rows[2]!.after).toBeNull();
  });
});
