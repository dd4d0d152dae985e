/**
 * What a training needs of @digitq/evaluation: a trained model as a Classify,
 * digit sets as the images it takes, the new version's report, and the
 * numbers promotion compares (promotion.ts) for the candidate (from its
 * report) and for the active version (computed now, on the same images).
 */
import type * as tf from '@tensorflow/tfjs';
import {
  FEEDBACK_HELDBACK_DATASET,
  MNIST_TEST_DATASET,
  PIXELS_PER_IMAGE,
  packModelBatch,
  type EvaluationReport,
  type ModelVersionRef,
} from '@digitq/contracts';
import type { DigitDataset } from '@digitq/datasets';
import { evaluateVersion, predictAll, topOf, type CalibrationInput, type Classify, type LabelledImages, type RobustnessSet } from '@digitq/evaluation';
import { TfjsEngine, type Evaluation } from '@digitq/model';
import type { PromotionScores } from './promotion.ts';

/** A digit set's images as the model takes them (n x 784 values in [0, 1]). */
export function labelledImages(set: DigitDataset): LabelledImages {
  const images = Array.from({ length: set.count }, (_, i) => set.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE));
  return { pixels: packModelBatch(images), labels: set.labels.subarray(0, set.count) };
}

/** A model in memory as a Classify (tfjs, the engine training has); the model stays the caller's to dispose. */
export function classifyWithModel(model: tf.LayersModel): Classify {
  const engine = TfjsEngine.fromModel(model);
  return (pixels) => engine.predict(pixels);
}

/** The images a report of the new version scores, and what its temperature is fitted on. */
export interface ReportData {
  mnistTest: DigitDataset;
  suite: readonly RobustnessSet[];
  /** Held-back feedback (possibly empty). */
  heldback: DigitDataset;
  /** The validation split the training held out (never trained on); null when it held out nothing. */
  validation: DigitDataset | null;
}

/** Images a report of `data` classifies (for progress). */
export function reportImageCount(data: ReportData): number {
  return (data.validation?.count ?? 0) + data.mnistTest.count + data.suite.reduce((sum, set) => sum + set.count, 0) + data.heldback.count;
}

/** With no validation split the served probabilities stay the model's own. */
const NO_CALIBRATION: CalibrationInput = { fitted_on: 'nothing: the training held out no validation split, so no temperature was fitted', count: 0, temperature: 1 };

export async function reportOf(model: ModelVersionRef, classify: Classify, data: ReportData): Promise<EvaluationReport> {
  const calibration: CalibrationInput = data.validation
    ? { fitted_on: `${data.validation.name}: ${data.validation.count.toLocaleString('en-US')} images held out of training (the validation split, never trained on)`, images: labelledImages(data.validation) }
    : NO_CALIBRATION;
  return evaluateVersion({
    model,
    classify,
    calibration,
    mnistTest: labelledImages(data.mnistTest),
    suite: data.suite,
    feedback: data.heldback.count > 0 ? labelledImages(data.heldback) : null,
  });
}

/** How many of `set` the model reads right. */
async function correctOn(classify: Classify, set: DigitDataset): Promise<number> {
  const probabilities = await predictAll(classify, labelledImages(set));
  let correct = 0;
  for (let i = 0; i < set.count; i++) if (topOf(probabilities, i).digit === set.labels[i]) correct++;
  return correct;
}

/** A version's promotion numbers, computed now on these images. */
export async function promotionScores(classify: Classify, mnistTest: DigitDataset, heldback: DigitDataset): Promise<PromotionScores> {
  const mnistCorrect = await correctOn(classify, mnistTest);
  return {
    mnist: { count: mnistTest.count, errors: mnistTest.count - mnistCorrect },
    feedback: heldback.count > 0 ? { count: heldback.count, correct: await correctOn(classify, heldback) } : null,
  };
}

/** The candidate's promotion numbers, from its report (the same images; temperature does not change which digit wins). */
export function promotionScoresOf(report: EvaluationReport): PromotionScores {
  const correct = (dataset: string) => {
    const metrics = report.datasets[dataset];
    return metrics && { count: metrics.count, correct: Math.round(metrics.accuracy * metrics.count) };
  };
  const mnist = correct(MNIST_TEST_DATASET);
  if (!mnist) throw new Error(`report of ${report.model.name}@${report.model.version} has no ${MNIST_TEST_DATASET}`);
  return { mnist: { count: mnist.count, errors: mnist.count - mnist.correct }, feedback: correct(FEEDBACK_HELDBACK_DATASET) ?? null };
}

/**
 * The report's MNIST test figures as the model package's Evaluation (what a
 * version's metadata `metrics` hold), so a training does not classify the
 * test set once more for them. The loss is the calibrated one, as served.
 */
export function mnistEvaluationOf(report: EvaluationReport): Evaluation {
  const metrics = report.datasets[MNIST_TEST_DATASET];
  if (!metrics) throw new Error(`report of ${report.model.name}@${report.model.version} has no ${MNIST_TEST_DATASET}`);
  return { count: metrics.count, accuracy: metrics.accuracy, loss: metrics.nll, confusion: metrics.confusion };
}
