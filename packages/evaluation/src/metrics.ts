/**
 * What a set of predictions says about a model: accuracy, negative
 * log-likelihood, confusion matrix, per-class precision and recall, and
 * calibration (expected calibration error and the reliability diagram's bins).
 */
import { CALIBRATION_BINS, DIGIT_CLASSES, type ClassificationMetrics, type ReliabilityBin } from '@digitq/contracts';

/**
 * Floor of a probability before its log, so one confidently wrong answer
 * (p = 0 in float32) costs -log(1e-7) ≈ 16 instead of Infinity; the same
 * floor evaluateModel uses for its loss.
 */
export const MIN_PROBABILITY = 1e-7;

/** Checks that `probabilities` holds DIGIT_CLASSES values per label; returns the number of images. */
export function imagesIn(labels: ArrayLike<number>, probabilities: Float32Array): number {
  if (probabilities.length !== labels.length * DIGIT_CLASSES) {
    throw new RangeError(`expected ${labels.length} x ${DIGIT_CLASSES} probabilities, got ${probabilities.length}`);
  }
  return labels.length;
}

/** The most probable digit of row `i` (the first on ties) and its probability. */
export function topOf(probabilities: Float32Array, i: number): { digit: number; confidence: number } {
  const row = i * DIGIT_CLASSES;
  let digit = 0;
  for (let d = 1; d < DIGIT_CLASSES; d++) if (probabilities[row + d]! > probabilities[row + digit]!) digit = d;
  return { digit, confidence: probabilities[row + digit]! };
}

/** Bin of a confidence among CALIBRATION_BINS equal-width bins of [0, 1]: [k/B, (k+1)/B), the last one closed. */
function binOf(confidence: number): number {
  return Math.min(CALIBRATION_BINS - 1, Math.max(0, Math.floor(confidence * CALIBRATION_BINS)));
}

/**
 * Expected calibration error, the usual definition (Guo et al. 2017):
 * sum over bins of |accuracy - mean confidence| * (images in bin / images),
 * bins of the top probability.
 */
export function expectedCalibrationError(labels: ArrayLike<number>, probabilities: Float32Array): number {
  return eceOf(reliabilityBins(labels, probabilities), imagesIn(labels, probabilities));
}

function eceOf(bins: readonly ReliabilityBin[], n: number): number {
  if (n === 0) return 0;
  let sum = 0;
  for (const bin of bins) if (bin.count > 0) sum += Math.abs(bin.accuracy! - bin.confidence!) * bin.count;
  return sum / n;
}

export function reliabilityBins(labels: ArrayLike<number>, probabilities: Float32Array): ReliabilityBin[] {
  const n = imagesIn(labels, probabilities);
  const count = new Array<number>(CALIBRATION_BINS).fill(0);
  const confidenceSum = new Array<number>(CALIBRATION_BINS).fill(0);
  const correct = new Array<number>(CALIBRATION_BINS).fill(0);
  for (let i = 0; i < n; i++) {
    const top = topOf(probabilities, i);
    const bin = binOf(top.confidence);
    count[bin]! += 1;
    confidenceSum[bin]! += top.confidence;
    if (top.digit === labels[i]) correct[bin]! += 1;
  }
  return count.map((c, k) => ({
    lower: k / CALIBRATION_BINS,
    upper: (k + 1) / CALIBRATION_BINS,
    count: c,
    confidence: c > 0 ? confidenceSum[k]! / c : null,
    accuracy: c > 0 ? correct[k]! / c : null,
  }));
}

/** Every metric of a report's dataset entry, from the labels and the N x 10 probabilities. */
export function classificationMetrics(labels: ArrayLike<number>, probabilities: Float32Array): ClassificationMetrics {
  const n = imagesIn(labels, probabilities);
  const confusion = Array.from({ length: DIGIT_CLASSES }, () => new Array<number>(DIGIT_CLASSES).fill(0));
  let correct = 0;
  let nllSum = 0;
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label >= DIGIT_CLASSES) throw new RangeError(`label ${i} is ${label}, not a digit`);
    const { digit } = topOf(probabilities, i);
    confusion[label]![digit]! += 1;
    if (digit === label) correct++;
    nllSum -= Math.log(Math.max(MIN_PROBABILITY, probabilities[i * DIGIT_CLASSES + label]!));
  }
  const per_class = confusion.map((row, digit) => {
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, r) => sum + r[digit]!, 0);
    const right = row[digit]!;
    return { digit, precision: predicted > 0 ? right / predicted : null, recall: support > 0 ? right / support : null, support };
  });
  const reliability = reliabilityBins(labels, probabilities);
  return {
    count: n,
    accuracy: n > 0 ? correct / n : 0,
    // Counted, not 1 - accuracy, so 32 errors in 10,000 print as 0.0032.
    error_rate: n > 0 ? (n - correct) / n : 0,
    nll: n > 0 ? nllSum / n : 0,
    ece: eceOf(reliability, n),
    confusion,
    per_class,
    reliability,
  };
}
