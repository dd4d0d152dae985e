/**
 * The input convention an imported model must follow, checked on MNIST test
 * images before it is registered: 28x28 pixels, one channel, scaled to
 * [0, 1], white digit on black (what packages/imaging produces and the
 * engines feed). A model trained on 0-255 pixels or on dark-on-light digits
 * still loads, but answers noise; scoring it tells the two apart.
 */
import type * as tf from '@tensorflow/tfjs';
import { sliceDataset, type DigitDataset } from '@digitq/datasets';
import { evaluateModel, type Evaluation } from '../evaluate.ts';

/** Chance is 10%; any working digit classifier fed the right input is far above this. */
export const MIN_IMPORT_ACCURACY = 0.5;
/** Images scored by default (the first of the MNIST test set); the whole set with --full. */
export const INPUT_CHECK_IMAGES = 1000;

export const INPUT_CONVENTION_TEXT = '28x28x1 pixels scaled to [0, 1], white digit on black (MNIST convention)';

export class InputConventionError extends Error {
  constructor(
    message: string,
    readonly evaluation: Evaluation,
  ) {
    super(message);
    this.name = 'InputConventionError';
  }
}

export interface InputCheckOptions {
  /** Images of `testSet` to score (from the first); default INPUT_CHECK_IMAGES, all of them when larger. */
  images?: number;
  minAccuracy?: number;
}

/** Scores `model` on the first images of `testSet`; throws InputConventionError below the floor. */
export async function checkInputConvention(model: tf.LayersModel, testSet: DigitDataset, options: InputCheckOptions = {}): Promise<Evaluation> {
  const images = Math.min(options.images ?? INPUT_CHECK_IMAGES, testSet.count);
  const minAccuracy = options.minAccuracy ?? MIN_IMPORT_ACCURACY;
  const evaluation = await evaluateModel(model, sliceDataset(testSet, 0, images));
  if (evaluation.accuracy < minAccuracy) {
    const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
    throw new InputConventionError(
      `the model scores ${percent(evaluation.accuracy)} on ${images} MNIST test images (at least ${percent(minAccuracy)} needed): ` +
        `it does not seem to take digitq's input, ${INPUT_CONVENTION_TEXT}. ` +
        'A model trained on 0-255 pixels or dark-on-light digits needs retraining (or a first layer that converts) before import.',
      evaluation,
    );
  }
  return evaluation;
}
