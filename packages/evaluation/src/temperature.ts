/**
 * Temperature scaling (Guo et al. 2017): calibrated probabilities are
 * softmax(z / T) for the model's logits z. A model gives probabilities p;
 * log p equals z up to a constant per image, which softmax ignores, so
 * softmax(log p / T) is the same thing without access to the logits.
 * T > 1 softens over-confident answers, T < 1 sharpens timid ones; the
 * predicted digit never changes, so accuracy never does.
 *
 * T is fitted by minimising the negative log-likelihood on held-out images.
 * That NLL is convex in 1/T, hence unimodal in log T, so a golden-section
 * search over log T finds its minimum.
 */
import { DIGIT_CLASSES } from '@digitq/contracts';
import { imagesIn } from './metrics.ts';

/** The search range of T: far beyond anything a trained classifier needs on either side. */
export const TEMPERATURE_RANGE = { min: 0.05, max: 20 } as const;
/** Width of the final interval in log T (a relative precision of T of about 1e-5). */
const LOG_T_TOLERANCE = 1e-5;
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

/** Mean NLL of the true digits under softmax(logs / T). */
function temperedNll(labels: ArrayLike<number>, logs: Float64Array, temperature: number): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const row = i * DIGIT_CLASSES;
    let max = -Infinity;
    for (let d = 0; d < DIGIT_CLASSES; d++) max = Math.max(max, logs[row + d]! / temperature);
    let total = 0;
    for (let d = 0; d < DIGIT_CLASSES; d++) total += Math.exp(logs[row + d]! / temperature - max);
    sum += max + Math.log(total) - logs[row + labels[i]!]! / temperature;
  }
  return n > 0 ? sum / n : 0;
}

/** The temperature in TEMPERATURE_RANGE minimising the NLL of `labels` under softmax(log p / T); 1 for an empty set. */
export function fitTemperature(labels: ArrayLike<number>, probabilities: Float32Array): number {
  if (imagesIn(labels, probabilities) === 0) return 1;
  const logs = logProbabilities(probabilities);
  const nll = (logT: number) => temperedNll(labels, logs, Math.exp(logT));
  let a = Math.log(TEMPERATURE_RANGE.min);
  let b = Math.log(TEMPERATURE_RANGE.max);
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
