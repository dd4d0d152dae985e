import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TrainingProgress } from '@digitq/contracts';
import { doneFraction, trainingProgressView } from './progress.ts';

const step = (epoch: number, batch: number, batches: number, extra: Partial<TrainingProgress> = {}): TrainingProgress => ({
  epoch,
  epochs: 4,
  batch,
  batches,
  loss: 0.5,
  accuracy: 0.9,
  val_loss: null,
  val_accuracy: null,
  images_per_s: 100,
  eta_s: 10,
  ...extra,
});

function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream: PassThrough & { isTTY?: boolean } = new PassThrough();
  stream.isTTY = isTTY;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk));
  return { stream, text: () => text };
}

describe('training progress', () => {
  it('counts batches of the current epoch towards the whole run; an epoch-end report (batches 0) is the whole epoch', () => {
    expect(doneFraction(step(1, 0, 10))).toBe(0);
    expect(doneFraction(step(1, 5, 10))).toBe(0.125);
    expect(doneFraction(step(2, 0, 0))).toBe(0.5);
    expect(doneFraction(step(4, 10, 10))).toBe(1);
  });

  it('writes one line per finished epoch when the stream is not a terminal', () => {
    const { stream, text } = capture(false);
    const view = trainingProgressView(stream);
    view.update(step(1, 3, 10));
    view.update(step(1, 0, 0, { val_accuracy: 0.912, loss: 0.25 }));
    view.update(step(1, 0, 0, { val_accuracy: 0.912, loss: 0.25 }));
    view.update(step(2, 0, 0, { loss: 0.125 }));
    view.stop();
    expect(text()).toBe('epoch 1/4  loss 0.2500  acc 91.2% (val)\nepoch 2/4  loss 0.1250  acc 90.0%\n');
  });

  it('draws a bar on a terminal', () => {
    const { stream, text } = capture(true);
    const view = trainingProgressView(stream);
    view.update(step(2, 5, 10));
    view.stop();
    expect(text()).toContain('37% | epoch 2/4 | loss 0.5000 | acc 90.0% | eta 10s');
  });
});
