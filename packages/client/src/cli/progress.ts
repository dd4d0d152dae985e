/**
 * A training's progress on the terminal: a cli-progress bar redrawn in
 * place when stderr is a terminal, otherwise one line per finished epoch
 * (so logs of a CI run stay readable).
 */
import cliProgress from 'cli-progress';
import type { TrainingProgress } from '@digitq/contracts';
import { percent } from './format.ts';

/** Bar resolution: the bar's value is the done fraction of all epochs in thousandths. */
const BAR_TOTAL = 1000;

export interface ProgressView {
  update(progress: TrainingProgress): void;
  stop(): void;
}

/** Done fraction of the whole run: batches within the current epoch count towards it (batches 0 marks an epoch's end). */
export function doneFraction(p: TrainingProgress): number {
  if (p.epochs <= 0) return 0;
  const withinEpoch = p.batches > 0 ? p.batch / p.batches : 1;
  return Math.min(1, Math.max(0, (p.epoch - 1 + withinEpoch) / p.epochs));
}

function payload(p: TrainingProgress) {
  return {
    epochText: `epoch ${p.epoch}/${p.epochs}`,
    accuracyText: `acc ${percent(p.val_accuracy ?? p.accuracy)}${p.val_accuracy !== null ? ' (val)' : ''}`,
    lossText: `loss ${p.loss === null ? '-' : p.loss.toFixed(4)}`,
    etaText: p.eta_s === null ? '' : `eta ${p.eta_s}s`,
  };
}

export function trainingProgressView(stream: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  if (!stream.isTTY) {
    let lastEpochDone = 0;
    return {
      update(p) {
        // batches 0 is the report at an epoch's end, with its validation numbers.
        if (p.batches !== 0 || p.epoch <= lastEpochDone) return;
        lastEpochDone = p.epoch;
        const t = payload(p);
        stream.write(`${t.epochText}  ${t.lossText}  ${t.accuracyText}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: '{bar} {percentage}% | {epochText} | {lossText} | {accuracyText} | {etaText}', hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const value = Math.round(doneFraction(p) * BAR_TOTAL);
      if (!started) {
        bar.start(BAR_TOTAL, value, payload(p));
        started = true;
      } else bar.update(value, payload(p));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
