/**
 * Temperature scaling (Guo et al. 2017): calibrated probabilities are
 * softmax(z / T) for the model's logits z. A model gives probabilities p;
 * log p equals z up to a constant per image, which softmax ignores, so
 * softmax(log p / T) is the same thing without access to the logits.
 * T > 1 softens over-confident answers, T < 1 sharpens timid ones; the
 * predicted digit never changes, so accuracy never does.
 *
 * T is fitted by minimising the negative log-likelihood on held-out images,
 * each image's term capped at -log(MIN_PROBABILITY) as in the reported NLL
 * and in the loss the model was trained with (Keras/tfjs clip at 1e-7).
 * Uncapped, one confidently wrong image (p = 1e-20 for its true digit: v1
 * has such) outweighs thousands of right ones, and the fit softens every
 * answer to excuse it: on v1 it chose T = 1.25, which raised the MNIST test
 * ECE from 0.16% to 0.27% and the capped NLL too. The capped objective is
 * not convex, so a grid over log T finds the best bracket and a
 * golden-section search refines it.
 */
import { DIGIT_CLASSES } from '@digitq/contracts';
import { MIN_PROBABILITY, imagesIn } from './metrics.ts';

/** The search range of T: far beyond anything a trained classifier needs on either side. */
export const TEMPERATURE_RANGE = { min: 0.05, max: 20 } as const;
/** Width of the final interval in log T (a relative precision of T of about 1e-5). */
const LOG_T_TOLERANCE = 1e-5;
/** Points of the coarse grid over log T (steps of about 10% in T). */
const GRID_POINTS = 64;
/** No image costs more than this: -log(MIN_PROBABILITY). */
const MAX_IMAGE_NLL = -Math.log(MIN_PROBABILITY);
/**
 * Floor of a probability before its log. Float32 probabilities reach ~1e-38
 * and exact 0s; without a floor, log 0 = -Infinity poisons the softmax.
 */
const MIN_LOG_PROBABILITY = Math.log(1e-30);
const INVERSE_GOLDEN_RATIO = (Math.sqrt(5) - 1) / 2;

function logProbabilities(probabilities: Float32Array): Float64Array {
  const logs = new Float64Array(probabilities.length);
  for (let i = 0; i < probabilities.length; i++) logs[i] = Math.max(MIN_LOG_PROBABILITY, Math.log(probabilities[i]!));
  return logs;
}

/** Mean NLL of the true digits under softmax(logs / T), each image's term capped at MAX_IMAGE_NLL. */
function temperedNll(labels: ArrayLike<number>, logs: Float64Array, temperature: number): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const row = i * DIGIT_CLASSES;
    let max = -Infinity;
    for (let d = 0; d < DIGIT_CLASSES; d++) max = Math.max(max, logs[row + d]! / temperature);
    let total = 0;
    for (let d = 0; d < DIGIT_CLASSES; d++) total += Math.exp(logs[row + d]! / temperature - max);
    sum += Math.min(MAX_IMAGE_NLL, max + Math.log(total) - logs[row + labels[i]!]! / temperature);
  }
  return n > 0 ? sum / n : 0;
}

/** The temperature in TEMPERATURE_RANGE minimising the NLL of `labels` under softmax(log p / T); 1 for an empty set. */
export function fitTemperature(labels: ArrayLike<number>, probabilities: Float32Array): number {
  if (imagesIn(labels, probabilities) === 0) return 1;
  const logs = logProbabilities(probabilities);
  const nll = (logT: number) => temperedNll(labels, logs, Math.exp(logT));
  const low = Math.log(TEMPERATURE_RANGE.min);
  const step = (Math.log(TEMPERATURE_RANGE.max) - low) / (GRID_POINTS - 1);
  let best = 0;
  let bestNll = Infinity;
  for (let k = 0; k < GRID_POINTS; k++) {
    const value = nll(low + k * step);
    // Strictly lower only: on a flat stretch the lowest temperature of it is kept.
    if (value < bestNll) {
      best = k;
      bestNll = value;
    }
  }
  // The minimum lies within one grid step of the best grid point.
  let a = low + Math.max(0, best - 1) * step;
  let b = low + Math.min(GRID_POINTS - 1, best + 1) * step;
  let c = b - INVERSE_GOLDEN_RATIO * (b - a);
  let d = a + INVERSE_GOLDEN_RATIO * (b - a);
  let fc = nll(c);
  let fd = nll(d);
  while (b - a > LOG_T_TOLERANCE) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - INVERSE_GOLDEN_RATIO * (b - a);
      fc = nll(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + INVERSE_GOLDEN_RATIO * (b - a);
      fd = nll(d);
    }
  }
  return Math.exp((a + b) / 2);
}

/** softmax(log p / T) per image: the calibrated N x 10 probabilities (a copy; T = 1 gives the same values). */
export function applyTemperature(probabilities: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a positive number, got ${temperature}`);
  if (probabilities.length % DIGIT_CLASSES !== 0) throw new RangeError(`expected N x ${DIGIT_CLASSES} probabilities, got ${probabilities.length}`);
  if (temperature === 1) return probabilities.slice();
  const out = new Float32Array(probabilities.length);
  const scaled = new Float64Array(DIGIT_CLASSES);
  for (let row = 0; row < probabilities.length; row += DIGIT_CLASSES) {
    let max = -Infinity;
    for (let d = 0; d < DIGIT_CLASSES; d++) {
      scaled[d] = Math.max(MIN_LOG_PROBABILITY, Math.log(probabilities[row + d]!)) / temperature;
      max = Math.max(max, scaled[d]!);
    }
    let total = 0;
    for (let d = 0; d < DIGIT_CLASSES; d++) {
      scaled[d] = Math.exp(scaled[d]! - max);
      total += scaled[d]!;
    }
    for (let d = 0; d < DIGIT_CLASSES; d++) out[row + d] = scaled[d]! / total;
  }
  return out;
}
