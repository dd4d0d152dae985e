/**
 * Training-time augmentation that mimics how real writers differ from MNIST:
 * slant and rotation, size and aspect ratio, position, and stroke width.
 * Runs as tensor ops on the active backend; every random draw comes from the
 * caller's seeded generator so a resumed run repeats the same stream.
 */
import * as tf from '@tensorflow/tfjs';
import { MNIST_SIDE } from '@digitq/datasets';

export interface AugmentOptions {
  /** Max rotation, degrees either way. */
  rotationDeg: number;
  /** Scale factor range around 1 (0.12 → 0.88…1.12). */
  scale: number;
  /** Aspect-ratio change range (0.15 → width/height × 0.85…1.15). */
  aspect: number;
  /** Max shear (slant), as a fraction. */
  shear: number;
  /** Max shift in pixels, either axis. */
  shiftPx: number;
  /** Probability that an image's stroke width is changed. */
  strokeProbability: number;
  /**
   * Probability that an image is first replaced by a degraded copy (low-resolution scan, binarised,
   * stretched, other pen) put through the serving preprocessing; needs TrainHooks.degrade. Absent: 0.
   */
  degradeProbability?: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = {
  rotationDeg: 12,
  scale: 0.12,
  aspect: 0.15,
  shear: 0.15,
  shiftPx: 2.5,
  strokeProbability: 0.4,
};

/** Gentler distortions, closer to MNIST's own variation. */
export const MILD_AUGMENT: AugmentOptions = {
  rotationDeg: 8,
  scale: 0.08,
  aspect: 0.1,
  shear: 0.1,
  shiftPx: 2,
  strokeProbability: 0.3,
};

/**
 * The default distortions, and half the images degraded the way real scans and forms are
 * (@digitq/imaging degradeForTraining): what makes a model robust to inputs that are not MNIST.
 */
export const ROBUST_AUGMENT: AugmentOptions = { ...DEFAULT_AUGMENT, degradeProbability: 0.5 };

export const AUGMENT_PRESETS = { default: DEFAULT_AUGMENT, mild: MILD_AUGMENT, robust: ROBUST_AUGMENT } as const;
export type AugmentPreset = keyof typeof AUGMENT_PRESETS | 'none';

export type Random = () => number;

/** mulberry32: a tiny seeded generator whose whole state is one integer, so checkpoints can store it. */
export class SeededRandom {
  constructor(public state: number) {}
  next: Random = () => {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
}

/**
 * The projective transform rows tf.image.transform expects: for each output
 * pixel (x, y) it samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2).
 * We draw the inverse (output→input) map directly; its distribution is symmetric.
 */
export function randomAffineRows(count: number, options: AugmentOptions, rand: SeededRandom): Float32Array {
  const rows = new Float32Array(count * 8);
  const c = (MNIST_SIDE - 1) / 2;
  for (let i = 0; i < count; i++) {
    const theta = (rand.uniform(-options.rotationDeg, options.rotationDeg) * Math.PI) / 180;
    const s = 1 + rand.uniform(-options.scale, options.scale);
    const r = 1 + rand.uniform(-options.aspect, options.aspect);
    const shear = rand.uniform(-options.shear, options.shear);
    const sx = s * Math.sqrt(r);
    const sy = s / Math.sqrt(r);
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    // M = R(θ) · Shear · diag(sx, sy)
    const m00 = cos * sx;
    const m01 = (cos * shear - sin) * sy;
    const m10 = sin * sx;
    const m11 = (sin * shear + cos) * sy;
    const tx = rand.uniform(-options.shiftPx, options.shiftPx);
    const ty = rand.uniform(-options.shiftPx, options.shiftPx);
    rows.set([m00, m01, c - m00 * c - m01 * c + tx, m10, m11, c - m10 * c - m11 * c + ty, 0, 0], i * 8);
  }
  return rows;
}

/**
 * Augments a batch [n, 28, 28, 1] of values in [0, 1]. Stroke width changes
 * blend each image toward its 3x3 dilation (thicker) or erosion (thinner) by a
 * random amount, which keeps strokes continuous where a full erosion of
 * MNIST's 2-3 px strokes would break them.
 */
export function augmentBatch(images: tf.Tensor4D, options: AugmentOptions, rand: SeededRandom): tf.Tensor4D {
  const n = images.shape[0];
  const transforms = randomAffineRows(n, options, rand);
  const blend = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (rand.next() < options.strokeProbability) blend[i] = rand.uniform(-0.6, 1);
  }
  return tf.tidy(() => {
    const warped = tf.image.transform(images, tf.tensor2d(transforms, [n, 8]), 'bilinear', 'constant', 0);
    const thick = tf.maxPool(warped, 3, 1, 'same');
    const thin = tf.neg(tf.maxPool(tf.neg(warped), 3, 1, 'same'));
    const w = tf.tensor4d(blend, [n, 1, 1, 1]);
    const towardThick = tf.mul(tf.relu(w), tf.sub(thick, warped));
    const towardThin = tf.mul(tf.relu(tf.neg(w)), tf.sub(thin, warped));
    return tf.clipByValue(tf.add(warped, tf.add(towardThick, towardThin)), 0, 1) as tf.Tensor4D;
  });
}
