import * as tf from '@tensorflow/tfjs';
import type { DigitDataset } from '@digitq/datasets';
import { datasetBatch } from './tensors.ts';

const EVAL_BATCH = 500;

export interface Evaluation {
  count: number;
  accuracy: number;
  loss: number;
  /** confusion[label][prediction] */
  confusion: number[][];
}

export interface EvaluateOptions {
  /** Applied to each batch before the model sees it (e.g. distortions for a robustness check). */
  transform?: (images: tf.Tensor4D) => tf.Tensor4D;
}

/** Accuracy, mean cross-entropy and confusion matrix of `model` on every image of `set`. */
export async function evaluateModel(model: tf.LayersModel, set: DigitDataset, options: EvaluateOptions = {}): Promise<Evaluation> {
  const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < set.count; start += EVAL_BATCH) {
    const end = Math.min(set.count, start + EVAL_BATCH);
    const [predictions, losses] = tf.tidy(() => {
      const { x, y } = datasetBatch(set, start, end);
      const probs = model.predict(options.transform ? options.transform(x) : x) as tf.Tensor2D;
      const loss = tf.metrics.categoricalCrossentropy(y, tf.clipByValue(probs, 1e-7, 1));
      return [tf.argMax(probs, 1), loss];
    });
    const predicted = await predictions.data();
    const lossValues = await losses.data();
    predictions.dispose();
    losses.dispose();
    for (let i = 0; i < predicted.length; i++) {
      const label = set.labels[start + i]!;
      const guess = predicted[i]!;
      confusion[label]![guess]! += 1;
      if (label === guess) correct++;
      lossSum += lossValues[i]!;
    }
  }
  return { count: set.count, accuracy: correct / set.count, loss: lossSum / set.count, confusion };
}
