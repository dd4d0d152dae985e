import type * as tf from '@tensorflow/tfjs';
import { DIGIT_CLASSES, type DigitDataset } from '@digitq/datasets';
import type { EvaluateOptions, Evaluation } from '../evaluate.ts';
import { datasetBatch } from '../tensors.ts';
import { predictedDigit } from './classify.ts';
import type { InferenceEngine } from './engine.ts';

const EVAL_BATCH = 500;
/** Probabilities are clipped here before the log, as evaluateModel does. */
const MIN_PROBABILITY = 1e-7;

/** evaluateModel for any engine: accuracy, mean cross-entropy and confusion matrix on every image of `set`. */
export async function evaluateEngine(engine: InferenceEngine, set: DigitDataset, options: EvaluateOptions = {}): Promise<Evaluation> {
  const confusion = Array.from({ length: DIGIT_CLASSES }, () => new Array<number>(DIGIT_CLASSES).fill(0));
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < set.count; start += EVAL_BATCH) {
    const end = Math.min(set.count, start + EVAL_BATCH);
    // The same input values evaluateModel feeds tfjs.
    const { x, y } = datasetBatch(set, start, end);
    let images: tf.Tensor4D = x;
    try {
      if (options.transform) images = options.transform(x);
      const probabilities = await engine.predict((await images.data()) as Float32Array);
      for (let i = 0; i < end - start; i++) {
        const label = set.labels[start + i]!;
        const guess = predictedDigit(probabilities, i);
        confusion[label]![guess]! += 1;
        if (label === guess) correct++;
        lossSum -= Math.log(Math.max(MIN_PROBABILITY, probabilities[i * DIGIT_CLASSES + label]!));
      }
    } finally {
      if (images !== x) images.dispose();
      x.dispose();
      y.dispose();
    }
  }
  return { count: set.count, accuracy: correct / set.count, loss: lossSum / set.count, confusion };
}
