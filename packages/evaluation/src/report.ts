/**
 * A version's evaluation report: its temperature fitted on held-out images
 * (or taken as given), then every dataset scored on the calibrated
 * probabilities, the ones serving returns.
 *
 * The model is a plain function (Classify) so this package needs no tfjs or
 * ONNX Runtime: the CLI and the worker wrap whichever engine they serve with.
 */
import {
  FEEDBACK_HELDBACK_DATASET,
  MNIST_TEST_DATASET,
  PIXELS_PER_IMAGE,
  evaluationReportSchema,
  packModelBatch,
  robustnessDatasetKey,
  type ClassificationMetrics,
  type EvaluationReport,
  type ModelVersionRef,
} from '@digitq/contracts';
import type { DigitDataset } from '@digitq/datasets';
import { classificationMetrics, expectedCalibrationError } from './metrics.ts';
import type { RobustnessSet } from './robustness-suite.ts';
import { applyTemperature, fitTemperature } from './temperature.ts';

/** A model as this package sees it: n x 784 inputs in [0, 1] -> n x 10 probabilities, uncalibrated. */
export type Classify = (pixels: Float32Array, n: number) => Promise<Float32Array>;

/** Images (n x 784 values in [0, 1]) and their digits. */
export interface LabelledImages {
  readonly pixels: Float32Array;
  readonly labels: ArrayLike<number>;
}

/** A dataset's images as the worker feeds them to a model (bytes / 255, packModelBatch) with its labels. */
export function labelledImagesOf(set: DigitDataset): LabelledImages {
  const pixels = set.rows * set.cols;
  const images = Array.from({ length: set.count }, (_, i) => set.images.subarray(i * pixels, (i + 1) * pixels));
  return { pixels: packModelBatch(images), labels: set.labels };
}

/** Images per classify call: big enough for the engines' batching to pay, small enough to bound memory. */
export const EVALUATION_BATCH = 500;

/** Fit the temperature on these held-out images, or use one fitted before (a version's metadata). */
export type CalibrationInput =
  | { readonly fitted_on: string; readonly images: LabelledImages }
  | { readonly fitted_on: string; readonly count: number; readonly temperature: number };

export interface EvaluateVersionInput {
  model: ModelVersionRef;
  classify: Classify;
  calibration: CalibrationInput;
  mnistTest: LabelledImages;
  suite: readonly RobustnessSet[];
  /** Held-back user corrections; absent or empty: no feedback-heldback entry. */
  feedback?: LabelledImages | null;
}

/** The model's probabilities for every image, EVALUATION_BATCH at a time. */
export async function predictAll(classify: Classify, images: LabelledImages): Promise<Float32Array> {
  const n = images.labels.length;
  if (images.pixels.length !== n * PIXELS_PER_IMAGE) throw new RangeError(`expected ${n} x ${PIXELS_PER_IMAGE} pixels, got ${images.pixels.length}`);
  const out = new Float32Array(n * 10);
  for (let start = 0; start < n; start += EVALUATION_BATCH) {
    const end = Math.min(n, start + EVALUATION_BATCH);
    const probabilities = await classify(images.pixels.subarray(start * PIXELS_PER_IMAGE, end * PIXELS_PER_IMAGE), end - start);
    if (probabilities.length !== (end - start) * 10) throw new RangeError(`the model answered ${probabilities.length} values for ${end - start} images`);
    out.set(probabilities, start * 10);
  }
  return out;
}

/** Fits a temperature for `classify` on held-out images (see fitTemperature). */
export async function fitModelTemperature(classify: Classify, images: LabelledImages): Promise<number> {
  return fitTemperature(images.labels, await predictAll(classify, images));
}

export async function evaluateVersion(input: EvaluateVersionInput): Promise<EvaluationReport> {
  const { classify } = input;
  let temperature: number;
  let calibrationCount: number;
  if ('images' in input.calibration) {
    temperature = await fitModelTemperature(classify, input.calibration.images);
    calibrationCount = input.calibration.images.labels.length;
  } else {
    temperature = input.calibration.temperature;
    calibrationCount = input.calibration.count;
  }
  const score = async (images: LabelledImages): Promise<{ raw: Float32Array; metrics: ClassificationMetrics }> => {
    const raw = await predictAll(classify, images);
    return { raw, metrics: classificationMetrics(images.labels, applyTemperature(raw, temperature)) };
  };

  const datasets: Record<string, ClassificationMetrics> = {};
  const mnist = await score(input.mnistTest);
  datasets[MNIST_TEST_DATASET] = mnist.metrics;
  for (const set of input.suite) {
    const { metrics } = await score(set);
    datasets[robustnessDatasetKey(set.id)] = { label: set.label, ...metrics, rejected: set.rejected };
  }
  if (input.feedback && input.feedback.labels.length > 0) datasets[FEEDBACK_HELDBACK_DATASET] = (await score(input.feedback)).metrics;

  return evaluationReportSchema.parse({
    model: input.model,
    created_at: new Date().toISOString(),
    datasets,
    calibration: {
      temperature,
      fitted_on: input.calibration.fitted_on,
      count: calibrationCount,
      ece_before: expectedCalibrationError(input.mnistTest.labels, mnist.raw),
      ece_after: mnist.metrics.ece,
    },
  });
}

/** One dataset of two reports side by side. */
export interface DatasetComparison {
  dataset: string;
  before: ClassificationMetrics | null;
  after: ClassificationMetrics | null;
  /** after's error rate / before's (0.5: errors halved); null when either is missing or before made no error. */
  error_ratio: number | null;
}

/** Every dataset of `after` (then any only `before` has), with `before`'s figures beside it. */
export function compareReports(before: EvaluationReport, after: EvaluationReport): DatasetComparison[] {
  const names = [...new Set([...Object.keys(after.datasets), ...Object.keys(before.datasets)])];
  return names.map((dataset) => {
    const b = before.datasets[dataset] ?? null;
    const a = after.datasets[dataset] ?? null;
    return { dataset, before: b, after: a, error_ratio: a && b && b.error_rate > 0 ? a.error_rate / b.error_rate : null };
  });
}
