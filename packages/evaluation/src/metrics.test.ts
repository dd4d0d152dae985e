import { describe, expect, it } from 'vitest';
import { classificationMetrics, expectedCalibrationError } from './metrics.ts';

/** N x 10 probabilities from sparse rows: { digit: probability }, the rest of each row spread evenly. */
function probabilities(rows: Record<number, number>[]): Float32Array {
  const out = new Float32Array(rows.length * 10);
  rows.forEach((row, i) => {
    const given = Object.values(row).reduce((a, b) => a + b, 0);
    const rest = (1 - given) / (10 - Object.keys(row).length);
    for (let d = 0; d < 10; d++) out[i * 10 + d] = row[d] ?? rest;
  });
  return out;
}

describe('classificationMetrics', () => {
  // Four images worked out by hand: 0 right at 0.9, 1 right at 0.6, a 2 read as 1 at 0.7, 2 right at 0.95.
  const labels = [0, 1, 2, 2];
  const probs = probabilities([{ 0: 0.9 }, { 1: 0.6, 2: 0.4 }, { 1: 0.7, 2: 0.3 }, { 2: 0.95, 0: 0.05 }]);
  const metrics = classificationMetrics(labels, probs);

  it('counts accuracy, error rate and the confusion matrix (rows: true digit)', () => {
    expect(metrics.count).toBe(4);
    expect(metrics.accuracy).toBe(0.75);
    expect(metrics.error_rate).toBe(0.25);
    const expected = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    expected[0]![0] = 1;
    expected[1]![1] = 1;
    expected[2]![1] = 1;
    expected[2]![2] = 1;
    expect(metrics.confusion).toEqual(expected);
  });

  it('gives per-class precision and recall, null where a digit was never predicted or never present', () => {
    expect(metrics.per_class[0]).toEqual({ digit: 0, precision: 1, recall: 1, support: 1 });
    expect(metrics.per_class[1]).toEqual({ digit: 1, precision: 0.5, recall: 1, support: 1 });
    expect(metrics.per_class[2]).toEqual({ digit: 2, precision: 1, recall: 0.5, support: 2 });
    expect(metrics.per_class[7]).toEqual({ digit: 7, precision: null, recall: null, support: 0 });
  });

  it('gives the mean negative log-likelihood of the true digit', () => {
    expect(metrics.nll).toBeCloseTo(-(Math.log(0.9) + Math.log(0.6) + Math.log(0.3) + Math.log(0.95)) / 4, 6);
  });

  it('computes ECE over 15 equal-width bins of the top probability', () => {
    // One image per bin: |1 - 0.9|, |1 - 0.6|, |0 - 0.7|, |1 - 0.95|, each weighted 1/4.
    expect(metrics.ece).toBeCloseTo((0.1 + 0.4 + 0.7 + 0.05) / 4, 6);
    expect(metrics.reliability).toHaveLength(15);
    const filled = metrics.reliability.filter((bin) => bin.count > 0);
    expect(filled.map((bin) => [bin.lower, bin.count, bin.accuracy])).toEqual([
      [9 / 15, 1, 1],
      [10 / 15, 1, 0],
      [13 / 15, 1, 1],
      [14 / 15, 1, 1],
    ]);
    expect(filled[1]!.confidence).toBeCloseTo(0.7, 6);
    expect(metrics.reliability.find((bin) => bin.count === 0)).toMatchObject({ confidence: null, accuracy: null });
  });

  it('averages within a bin before taking the gap, as ECE is defined', () => {
    // Both in bin [0.867, 0.933): accuracy 0.5, mean confidence 0.91, so ECE 0.41 (per image it would be 0.51).
    const ece = expectedCalibrationError([3, 3], probabilities([{ 3: 0.9 }, { 5: 0.92 }]));
    expect(ece).toBeCloseTo(0.41, 6);
  });

  it('puts a confidence of exactly 1 in the last bin', () => {
    const bins = classificationMetrics([4], probabilities([{ 4: 1 }])).reliability;
    expect(bins[14]).toMatchObject({ count: 1, accuracy: 1, confidence: 1 });
  });

  it('refuses probabilities that do not match the labels', () => {
    expect(() => classificationMetrics([1, 2], new Float32Array(10))).toThrow(RangeError);
    expect(() => classificationMetrics([12], new Float32Array(10))).toThrow(RangeError);
  });
});
