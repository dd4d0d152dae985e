/**
 * A version's evaluation report (@digitq/evaluation computes it): how it does
 * on the MNIST test set, on each degradation of the robustness suite and on
 * held-back user corrections, how well its confidence is calibrated, and why
 * it was or was not promoted. Stored as report.json in the version folder and
 * in the registry next to its metadata; served at
 * GET /v1/models/:name/:version/report.
 *
 * Every metric is computed on the calibrated probabilities (the temperature
 * in `calibration`, the one serving applies); `calibration.ece_before` is the
 * MNIST test ECE of the raw probabilities.
 */
import { z } from 'zod';
import { modelNameSchema, modelVersionSchema } from './models.ts';

/** Equal-width confidence bins of the expected calibration error and the reliability diagram. */
export const CALIBRATION_BINS = 15;

/** Dataset keys of a report: the MNIST test set, one per robustness degradation, held-back feedback. */
export const MNIST_TEST_DATASET = 'mnist-test';
export const FEEDBACK_HELDBACK_DATASET = 'feedback-heldback';
export const ROBUSTNESS_DATASET_PREFIX = 'robustness/';
export const robustnessDatasetKey = (degradationId: string): string => `${ROBUSTNESS_DATASET_PREFIX}${degradationId}`;

/** The report's file in a version folder, beside metadata.json. */
export const REPORT_JSON = 'report.json';

export const modelVersionRefSchema = z.object({ name: modelNameSchema, version: modelVersionSchema });
export type ModelVersionRef = z.infer<typeof modelVersionRefSchema>;

export const perClassMetricsSchema = z.object({
  digit: z.number().int().min(0).max(9),
  /** Of the images predicted as `digit`, the share that are; null when none was predicted as it. */
  precision: z.number().nullable(),
  /** Of the images of `digit`, the share predicted right; null when the set has none. */
  recall: z.number().nullable(),
  support: z.number().int(),
});
export type PerClassMetrics = z.infer<typeof perClassMetricsSchema>;

/** One confidence bin: images whose top probability is in [lower, upper) (the last bin includes 1). */
export const reliabilityBinSchema = z.object({
  lower: z.number(),
  upper: z.number(),
  count: z.number().int(),
  /** Mean top probability in the bin (null when empty). */
  confidence: z.number().nullable(),
  /** Share right in the bin (null when empty). */
  accuracy: z.number().nullable(),
});
export type ReliabilityBin = z.infer<typeof reliabilityBinSchema>;

export const classificationMetricsSchema = z.object({
  /** What the dataset is, for people (a degradation's label, e.g. "scanned at 16x16 and binarised"). */
  label: z.string().optional(),
  count: z.number().int(),
  accuracy: z.number(),
  error_rate: z.number(),
  /** Mean negative log-likelihood of the true digit (natural log). */
  nll: z.number(),
  /** Expected calibration error over CALIBRATION_BINS equal-width bins of the top probability. */
  ece: z.number(),
  /** confusion[true digit][predicted digit]. */
  confusion: z.array(z.array(z.number().int()).length(10)).length(10),
  per_class: z.array(perClassMetricsSchema).length(10),
  reliability: z.array(reliabilityBinSchema),
  /** Robustness sets: images the preprocessing refused (the API would answer 422); scored as a blank frame, so nearly always as errors. */
  rejected: z.number().int().optional(),
});
export type ClassificationMetrics = z.infer<typeof classificationMetricsSchema>;

export const calibrationSchema = z.object({
  /** Probabilities are served as softmax(log(p) / temperature); 1 leaves them as the model gives them. */
  temperature: z.number().positive(),
  /** Which images the temperature was fitted on, e.g. "mnist-train last 3,000 (the validation split, never trained on)". */
  fitted_on: z.string(),
  count: z.number().int(),
  /** MNIST test ECE of the raw probabilities and of the calibrated ones. */
  ece_before: z.number(),
  ece_after: z.number(),
});
export type Calibration = z.infer<typeof calibrationSchema>;

export const promotionSchema = z.object({
  /** The version this one was a candidate to replace (the active one when it was judged), or null. */
  candidate_of: z.string().nullable(),
  promoted: z.boolean(),
  /** Why it was or was not promoted, one sentence each. */
  reasons: z.array(z.string()),
  compared_to: modelVersionRefSchema.nullable(),
});
export type Promotion = z.infer<typeof promotionSchema>;

export const evaluationReportSchema = z.object({
  model: modelVersionRefSchema,
  created_at: z.string(),
  /** Keyed by MNIST_TEST_DATASET, robustnessDatasetKey(id) per degradation, FEEDBACK_HELDBACK_DATASET. */
  datasets: z.record(z.string(), classificationMetricsSchema),
  calibration: calibrationSchema,
  promotion: promotionSchema.optional(),
  /** Shadow-mode figures (agreement, accuracy where feedback exists, latency) filled in by serving. */
  shadow: z.looseObject({}).optional(),
});
export type EvaluationReport = z.infer<typeof evaluationReportSchema>;
