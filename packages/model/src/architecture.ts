/**
 * The digit classifier's architecture. One named preset per trade-off so a
 * model folder's metadata can say exactly what it is.
 */
import * as tf from '@tensorflow/tfjs';
import { DIGIT_CLASSES, MNIST_SIDE } from '@digitq/datasets';

export const ARCHITECTURES = ['digitnet-bn', 'tiny'] as const;
export type ArchitectureName = (typeof ARCHITECTURES)[number];

export const INPUT_SHAPE = [MNIST_SIDE, MNIST_SIDE, 1] as const;

/** conv → batch norm → ReLU; the conv has no bias because batch norm's beta replaces it. */
function convBnRelu(model: tf.Sequential, filters: number, kernelSize: number, padding: 'same' | 'valid', seed: number, first = false): void {
  model.add(
    tf.layers.conv2d({
      ...(first ? { inputShape: [...INPUT_SHAPE] } : {}),
      filters,
      kernelSize,
      padding,
      useBias: false,
      // Seeded so a run is reproducible and a resumed run equals an uninterrupted one.
      kernelInitializer: tf.initializers.heNormal({ seed }),
    }),
  );
  model.add(tf.layers.batchNormalization({ momentum: 0.9 }));
  model.add(tf.layers.activation({ activation: 'relu' }));
}

/**
 * digitnet-bn: conv32-pool-conv64-pool-conv128(valid)-dropout-dense10 with batch
 * norm, ~125k parameters and ~4.3M multiply-adds per image: sized so one wasm
 * core trains it at ~200 images/s (see bench/). Batch norm and dropout are
 * what the plain 113k-parameter version lacked to pass 99.44%.
 *
 * tiny: a ~9k-parameter net for smoke tests and the training-job e2e tests.
 */
export function buildModel(name: ArchitectureName, seed = 1): tf.Sequential {
  const model = tf.sequential({ name });
  if (name === 'tiny') {
    convBnRelu(model, 8, 3, 'same', seed, true);
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    convBnRelu(model, 16, 3, 'same', seed + 1);
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    model.add(tf.layers.flatten());
  } else {
    convBnRelu(model, 32, 3, 'same', seed, true);
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    convBnRelu(model, 64, 3, 'same', seed + 1);
    model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    convBnRelu(model, 128, 3, 'valid', seed + 2);
    model.add(tf.layers.flatten());
    model.add(tf.layers.dropout({ rate: 0.4, seed }));
  }
  model.add(tf.layers.dense({ units: DIGIT_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 3 }) }));
  return model;
}
