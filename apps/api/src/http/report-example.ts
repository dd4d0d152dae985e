/**
 * The OpenAPI example of GET /v1/models/{name}/{version}/report: a report of
 * the right shape made by the evaluation package's own metrics from a small
 * made-up set (100 images per dataset, a few read wrong), so it can never
 * drift from the schema.
 */
import { DIGIT_CLASSES, FEEDBACK_HELDBACK_DATASET, MNIST_TEST_DATASET, robustnessDatasetKey, type EvaluationReport } from '@digitq/contracts';
import { classificationMetrics } from '@digitq/evaluation';

const EXAMPLE_IMAGES = 100;
const CONFIDENT = 0.97;

/** `count` images, digits in turn, the first `wrong` read as the next digit; the top probability CONFIDENT. */
function exampleMetrics(wrong: number, label?: string) {
  const labels = Array.from({ length: EXAMPLE_IMAGES }, (_, i) => i % DIGIT_CLASSES);
  const probabilities = new Float32Array(EXAMPLE_IMAGES * DIGIT_CLASSES).fill((1 - CONFIDENT) / (DIGIT_CLASSES - 1));
  labels.forEach((digit, i) => (probabilities[i * DIGIT_CLASSES + (i < wrong ? (digit + 1) % DIGIT_CLASSES : digit)] = CONFIDENT));
  return { ...(label && { label }), ...classificationMetrics(labels, probabilities) };
}

export const modelReportExample: EvaluationReport = {
  model: { name: 'digitnet', version: 'v3' },
  created_at: '2026-11-30T03:12:09.000Z',
  datasets: {
    [MNIST_TEST_DATASET]: exampleMetrics(1),
    [robustnessDatasetKey('downsample-8')]: { ...exampleMetrics(9, 'downsampled to 8x8'), rejected: 0 },
    [FEEDBACK_HELDBACK_DATASET]: exampleMetrics(12),
  },
  calibration: {
    temperature: 1.31,
    fitted_on: 'mnist-train validation split: 3,000 images held out of training (the validation split, never trained on)',
    count: 3000,
    ece_before: 0.0123,
    ece_after: 0.0041,
  },
  promotion: {
    candidate_of: 'digitnet@v2',
    promoted: true,
    reasons: [
      'MNIST test: 31 errors of 10,000 (0.31%) vs 32 for digitnet@v2; at most 5 more allowed (PROMOTE_MNIST_TOLERANCE 0.0005): not worse',
      'held-back feedback: 38 of 41 right vs 12 for digitnet@v2: better',
      'promoted over digitnet@v2',
    ],
    compared_to: { name: 'digitnet', version: 'v2' },
  },
};
