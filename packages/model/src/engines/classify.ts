import { DIGIT_CLASSES, MNIST_PIXELS } from '@digitq/datasets';
import type { DigitPrediction } from '../predict.ts';
import type { InferenceEngine } from './engine.ts';

/** The images one after another in one Float32Array, the layout InferenceEngine.predict takes. */
export function packImages(inputs: readonly Float32Array[]): Float32Array {
  const batch = new Float32Array(inputs.length * MNIST_PIXELS);
  inputs.forEach((input, i) => {
    if (input.length !== MNIST_PIXELS) throw new RangeError(`input ${i} has ${input.length} values, expected ${MNIST_PIXELS}`);
    batch.set(input, i * MNIST_PIXELS);
  });
  return batch;
}

/** The most probable digit of image `i` in a batch's N×10 probabilities. */
export function predictedDigit(probabilities: Float32Array, i: number): number {
  let best = 0;
  for (let d = 1; d < DIGIT_CLASSES; d++) if (probabilities[i * DIGIT_CLASSES + d]! > probabilities[i * DIGIT_CLASSES + best]!) best = d;
  return best;
}

/** Classifies a packed batch (N x 784 floats in [0,1], e.g. @digitq/contracts' packModelBatch) with one engine call. */
export async function classifyBatch(engine: InferenceEngine, batch: Float32Array): Promise<DigitPrediction[]> {
  if (batch.length === 0) return [];
  const values = await engine.predict(batch);
  return Array.from({ length: batch.length / MNIST_PIXELS }, (_, i) => {
    const probabilities = Array.from(values.subarray(i * DIGIT_CLASSES, (i + 1) * DIGIT_CLASSES));
    const prediction = predictedDigit(values, i);
    return { prediction, confidence: probabilities[prediction]!, probabilities };
  });
}

/** Classifies many preprocessed images (784 floats in [0,1] each) with one engine call: predictDigits for any engine. */
export async function classifyDigits(engine: InferenceEngine, inputs: readonly Float32Array[]): Promise<DigitPrediction[]> {
  return classifyBatch(engine, packImages(inputs));
}
