import * as tf from '@tensorflow/tfjs';
import { DIGIT_CLASSES, MNIST_PIXELS, MNIST_SIDE } from '@digitq/datasets';

export interface DigitPrediction {
  prediction: number;
  confidence: number;
  /** Softmax probability of each digit 0-9. */
  probabilities: number[];
}

/**
 * Classifies many preprocessed images (784 floats in [0,1] each, MNIST
 * convention) with one forward pass. No tensor outlives the call.
 */
export async function predictDigits(model: tf.LayersModel, inputs: readonly Float32Array[]): Promise<DigitPrediction[]> {
  if (inputs.length === 0) return [];
  const batch = new Float32Array(inputs.length * MNIST_PIXELS);
  inputs.forEach((input, i) => {
    if (input.length !== MNIST_PIXELS) throw new RangeError(`input ${i} has ${input.length} values, expected ${MNIST_PIXELS}`);
    batch.set(input, i * MNIST_PIXELS);
  });
  const probs = tf.tidy(() => model.predict(tf.tensor4d(batch, [inputs.length, MNIST_SIDE, MNIST_SIDE, 1])) as tf.Tensor2D);
  const values = await probs.data();
  probs.dispose();
  return inputs.map((_, i) => {
    const probabilities = Array.from(values.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES));
    let best = 0;
    for (let d = 1; d < DIGIT_CLASSES; d++) if (probabilities[d]! > probabilities[best]!) best = d;
    return { prediction: best, confidence: probabilities[best]!, probabilities };
  });
}
