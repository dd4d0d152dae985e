/**
 * The set a training learns from when it includes the users' corrections.
 *
 * Feedback is small (tens to thousands of images) and MNIST large (60,000):
 * trained on as they come, the corrections would be a rounding error of each
 * epoch and the model would not learn them; trained on alone, a model forgets
 * MNIST. So `mnist+feedback` repeats the feedback (oversampling) until it is
 * about FEEDBACK_EPOCH_SHARE of every epoch, and the shuffle spreads the
 * repeats over the epoch's batches (augmentation, when on, makes each repeat
 * a slightly different image).
 *
 * The training loop holds out the tail of the set it is given for validation
 * (TrainOptions.validationSplit). Here that tail is MNIST only, taken before
 * the feedback is added, so no repeat of a training image lands in the
 * validation split: the temperature fitted on it (the report's calibration)
 * is fitted on images the model never trained on.
 */
import { concatDatasets, sliceDataset, type DigitDataset } from '@digitq/datasets';

/**
 * Share of each epoch's images that are feedback repeats in `mnist+feedback`:
 * enough that a style shown by a few hundred corrections is learnt within an
 * epoch or two, small enough that MNIST stays 85% of what the model sees.
 */
export const FEEDBACK_EPOCH_SHARE = 0.15;

/**
 * At most this many copies of each correction per epoch: with very little
 * feedback and all of MNIST the share would need thousands of copies of a
 * handful of images, which the model would memorise rather than generalise
 * from. Past it the feedback's share is below FEEDBACK_EPOCH_SHARE.
 */
export const MAX_FEEDBACK_REPEATS = 50;

/** Copies of each feedback image per epoch so feedback is about FEEDBACK_EPOCH_SHARE of it (at least 1, at most MAX_FEEDBACK_REPEATS). */
export function feedbackRepeats(mnistTrainCount: number, feedbackCount: number): number {
  if (feedbackCount === 0) return 0;
  // repeats * F / (M + repeats * F) = share  =>  repeats = share * M / ((1 - share) * F)
  const wanted = (FEEDBACK_EPOCH_SHARE * mnistTrainCount) / ((1 - FEEDBACK_EPOCH_SHARE) * feedbackCount);
  return Math.min(MAX_FEEDBACK_REPEATS, Math.max(1, Math.round(wanted)));
}

export interface MixedTrainingSet {
  /** MNIST's training part, the feedback repeated, then MNIST's validation tail. */
  dataset: DigitDataset;
  /** The validationSplit to train `dataset` with: exactly the MNIST tail. */
  validationSplit: number;
  validationCount: number;
  repeats: number;
  /** Share of each epoch's training images that are feedback. */
  feedbackShare: number;
}

/**
 * MNIST (already limited) and the trainable feedback as one set, with the
 * validation split of MNIST alone at its end (see the module comment).
 */
export function mixFeedback(mnist: DigitDataset, feedback: DigitDataset, validationSplit: number): MixedTrainingSet {
  const validationCount = Math.round(mnist.count * validationSplit);
  const mnistTrain = sliceDataset(mnist, 0, mnist.count - validationCount);
  const validation = sliceDataset(mnist, mnistTrain.count, mnist.count);
  const repeats = feedbackRepeats(mnistTrain.count, feedback.count);
  const dataset = concatDatasets(`${mnist.name}+feedback`, [mnistTrain, ...Array.from({ length: repeats }, () => feedback), validation]);
  const trainCount = dataset.count - validationCount;
  return {
    dataset,
    // trainModel holds out round(count * split) images: this split gives back exactly validationCount.
    validationSplit: dataset.count === 0 ? 0 : validationCount / dataset.count,
    validationCount,
    repeats,
    feedbackShare: trainCount === 0 ? 0 : (repeats * feedback.count) / trainCount,
  };
}
