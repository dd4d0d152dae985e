import * as tf from '@tensorflow/tfjs';
import { DIGIT_CLASSES, type DigitDataset } from '@digitq/datasets';

const BYTE_TO_UNIT = 1 / 255;

/** Images [start, end) of `set` (or the listed indices) as x [n,28,28,1] in [0,1] and one-hot y [n,10]. */
export function datasetBatch(
  set: DigitDataset,
  start: number,
  end: number,
  order?: Uint32Array,
  /** Replaces an image's values when it returns some (training-time degradation); null keeps the image. */
  replace?: (image: Uint8Array) => Float32Array | null,
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const pixels = set.rows * set.cols;
  const n = end - start;
  const xs = new Float32Array(n * pixels);
  const ys = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const index = order ? order[start + i]! : start + i;
    const src = set.images.subarray(index * pixels, (index + 1) * pixels);
    const replaced = replace?.(src);
    if (replaced) xs.set(replaced, i * pixels);
    else for (let p = 0; p < pixels; p++) xs[i * pixels + p] = src[p]! * BYTE_TO_UNIT;
    ys[i] = set.labels[index]!;
  }
  return tf.tidy(() => ({
    x: tf.tensor4d(xs, [n, set.rows, set.cols, 1]),
    y: tf.oneHot(tf.tensor1d(ys, 'int32'), DIGIT_CLASSES) as tf.Tensor2D,
  }));
}

/** Tensors alive in TensorFlow.js now (a gauge that must stay flat under load). */
export function liveTensorCount(): number {
  return tf.memory().numTensors;
}
