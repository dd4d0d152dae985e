import { describe, expect, it } from 'vitest';
import { MNIST_PIXELS, type DigitDataset } from '@digitq/datasets';
import { FEEDBACK_EPOCH_SHARE, MAX_FEEDBACK_REPEATS, feedbackRepeats, mixFeedback } from './training-data.ts';

/** `count` images whose every pixel is the image's own marker byte, labelled `label`. */
function digits(name: string, count: number, marker: number, label: number): DigitDataset {
  const images = new Uint8Array(count * MNIST_PIXELS);
  for (let i = 0; i < count; i++) images.fill((marker + i) % 256, i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
  return { name, count, rows: 28, cols: 28, images, labels: new Uint8Array(count).fill(label) };
}

describe('feedbackRepeats', () => {
  it('makes feedback about FEEDBACK_EPOCH_SHARE of an epoch, within [1, MAX_FEEDBACK_REPEATS]', () => {
    const repeats = feedbackRepeats(9_500, 160);
    // Whole repeats only: within one repeat's worth of the share.
    const share = (repeats * 160) / (9_500 + repeats * 160);
    expect(Math.abs(share - FEEDBACK_EPOCH_SHARE)).toBeLessThan(160 / (9_500 + repeats * 160));
    expect(feedbackRepeats(57_000, 3)).toBe(MAX_FEEDBACK_REPEATS);
    expect(feedbackRepeats(100, 5_000)).toBe(1);
    expect(feedbackRepeats(1_000, 0)).toBe(0);
  });
});

describe('mixFeedback', () => {
  it('puts MNIST training images, the repeated feedback, then only MNIST in the validation tail', () => {
    const mnist = digits('mnist-train', 1_000, 0, 3);
    const feedback = digits('feedback', 20, 200, 7);
    const mixed = mixFeedback(mnist, feedback, 0.1);
    expect(mixed.validationCount).toBe(100);
    expect(mixed.repeats).toBe(feedbackRepeats(900, 20));
    expect(mixed.dataset.count).toBe(1_000 + mixed.repeats * 20);
    // What trainModel will hold out is exactly the last 100 MNIST images.
    expect(Math.round(mixed.dataset.count * mixed.validationSplit)).toBe(100);
    const tail = mixed.dataset.labels.subarray(mixed.dataset.count - 100);
    expect(tail.every((label) => label === 3)).toBe(true);
    expect(mixed.dataset.images[(mixed.dataset.count - 100) * MNIST_PIXELS]).toBe(900 % 256);
    expect(mixed.dataset.labels.filter((label) => label === 7).length).toBe(mixed.repeats * 20);
    expect(mixed.feedbackShare).toBeCloseTo((mixed.repeats * 20) / (900 + mixed.repeats * 20), 6);
  });
});
