/**
 * How real inputs differ from MNIST, as functions of an MNIST digit: scanned
 * forms digitised at low resolution and binarised, digits stretched to fill
 * their box, pens thicker or thinner than MNIST's. Two uses, one definition:
 *
 * - ROBUSTNESS_DEGRADATIONS: the fixed robustness suite (@digitq/evaluation
 *   renders each to a PNG and sends it through preprocessDigitImage, the
 *   API's own path) that every evaluation report scores;
 * - randomDegradation: the same family with random parameters, used as
 *   training augmentation (followed by preprocessGreyImage, so training
 *   sees exactly what serving would make of such an upload).
 *
 * Every result is dark ink on white paper, as a scan or a form is; the
 * preprocessing normalises polarity. No randomness outside the caller's
 * generator, so a seeded run repeats.
 */
import type { GreyImage } from './decode.ts';
import { FRAME_SIDE } from './frame.ts';
import { resizeGrey } from './resize.ts';
import { ImageError } from './errors.ts';
import { preprocessGreyImage } from './preprocess.ts';

/** Bump when a degradation changes: cached suites keyed by it are rebuilt. */
export const DEGRADATIONS_VERSION = 1;

export interface Degradation {
  /** Stable id, used as `robustness/<id>` in evaluation reports. */
  id: string;
  label: string;
  /** `digit`: 784 bytes, an MNIST digit (white ink on black, 28x28). */
  apply(digit: Uint8Array): GreyImage;
}

/** Scale of the supersampled copy that stroke width is changed on: 1 px of MNIST = 4 px. */
const SUPERSAMPLE = 4;

function mnistFrame(digit: Uint8Array): GreyImage {
  if (digit.length !== FRAME_SIDE * FRAME_SIDE) throw new RangeError(`an MNIST digit has ${FRAME_SIDE * FRAME_SIDE} pixels, got ${digit.length}`);
  return { data: digit, width: FRAME_SIDE, height: FRAME_SIDE };
}

/** White-ink-on-black to dark-ink-on-paper. */
function onPaper(image: GreyImage): GreyImage {
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i++) data[i] = 255 - image.data[i]!;
  return { data, width: image.width, height: image.height };
}

/** Ink at or above `threshold` (0-1 of full ink) becomes full ink, the rest none: a 1-bit scan. */
export function binarise(image: GreyImage, threshold: number): GreyImage {
  const level = threshold * 255;
  const data = new Uint8Array(image.data.length);
  for (let i = 0; i < data.length; i++) data[i] = image.data[i]! >= level && image.data[i]! > 0 ? 255 : 0;
  return { data, width: image.width, height: image.height };
}

/** Bounding box of the pixels with any ink; null for an empty image. */
function inkBounds(image: GreyImage): { left: number; top: number; width: number; height: number } | null {
  let left = image.width;
  let top = image.height;
  let right = -1;
  let bottom = -1;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (image.data[y * image.width + x]! === 0) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return right < 0 ? null : { left, top, width: right - left + 1, height: bottom - top + 1 };
}

function crop(image: GreyImage, box: { left: number; top: number; width: number; height: number }): GreyImage {
  const data = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    data.set(image.data.subarray((box.top + y) * image.width + box.left, (box.top + y) * image.width + box.left + box.width), y * box.width);
  }
  return { data, width: box.width, height: box.height };
}

/**
 * The digit's ink box resized to fill a FRAME_SIDE-high frame edge to edge,
 * its width stretched by up to `maxAspectStretch` beyond its own aspect
 * ratio (a form box is wider than a 1 is: the writer fills it, but a 1 does
 * not become a square blob no one could read).
 */
export function stretchToFill(image: GreyImage, maxAspectStretch: number): GreyImage {
  const box = inkBounds(image);
  if (!box) return image;
  const aspect = box.width / box.height;
  const stretched = Math.min(1, aspect * maxAspectStretch);
  const width = Math.max(1, Math.round(FRAME_SIDE * Math.max(aspect, stretched)));
  return resizeGrey(crop(image, box), Math.min(FRAME_SIDE, width), FRAME_SIDE);
}

/** Greyscale dilation (`grow`) or erosion with a (2r+1)-square window, size kept: two separable passes. */
function morph(image: GreyImage, radius: number, grow: boolean): GreyImage {
  const { width, height } = image;
  const pass = (src: Uint8Array, stride: number, step: number, lines: number, length: number): Uint8Array => {
    const out = new Uint8Array(src.length);
    for (let line = 0; line < lines; line++) {
      const base = line * stride;
      for (let i = 0; i < length; i++) {
        let v = src[base + i * step]!;
        const to = Math.min(length - 1, i + radius);
        for (let k = Math.max(0, i - radius); k <= to; k++) {
          const u = src[base + k * step]!;
          if (grow ? u > v : u < v) v = u;
        }
        out[base + i * step] = v;
      }
    }
    return out;
  };
  const rows = pass(image.data, width, 1, height, width);
  const data = pass(rows, 1, width, width, height);
  return { data, width, height };
}

/**
 * Changes the pen width by `deltaPx` MNIST pixels (each side of a stroke
 * moves by half of it): drawn on a supersampled copy so a fraction of a pixel
 * is possible; the result stays supersampled (a larger image, as a scan is).
 */
export function changeStrokeWidth(image: GreyImage, deltaPx: number): GreyImage {
  const large = resizeGrey(image, image.width * SUPERSAMPLE, image.height * SUPERSAMPLE);
  const radius = Math.round((Math.abs(deltaPx) * SUPERSAMPLE) / 2);
  return radius === 0 ? large : morph(large, radius, deltaPx > 0);
}

function downsample(image: GreyImage, side: number): GreyImage {
  return resizeGrey(image, side, side);
}

export const ROBUSTNESS_DEGRADATIONS: readonly Degradation[] = [
  { id: 'clean', label: 'MNIST digit as a PNG (no degradation)', apply: (d) => onPaper(mnistFrame(d)) },
  { id: 'downsample-16', label: 'downsampled to 16x16', apply: (d) => onPaper(downsample(mnistFrame(d), 16)) },
  { id: 'downsample-8', label: 'downsampled to 8x8', apply: (d) => onPaper(downsample(mnistFrame(d), 8)) },
  { id: 'binarise-0.25', label: 'binarised at 25% ink', apply: (d) => onPaper(binarise(mnistFrame(d), 0.25)) },
  { id: 'binarise-0.5', label: 'binarised at 50% ink', apply: (d) => onPaper(binarise(mnistFrame(d), 0.5)) },
  { id: 'binarise-0.75', label: 'binarised at 75% ink', apply: (d) => onPaper(binarise(mnistFrame(d), 0.75)) },
  { id: 'scan-16', label: 'scanned form: 16x16, binarised at 50%', apply: (d) => onPaper(binarise(downsample(mnistFrame(d), 16), 0.5)) },
  // At 8x8 a 50% threshold erases most thin digits outright (nothing left to read); 35% keeps them.
  { id: 'scan-8', label: 'scanned form: 8x8, binarised at 35%', apply: (d) => onPaper(binarise(downsample(mnistFrame(d), 8), 0.35)) },
  { id: 'stretch-fill', label: 'stretched to fill its box edge to edge', apply: (d) => onPaper(stretchToFill(mnistFrame(d), 2)) },
  { id: 'stroke-thick', label: 'pen 2.5 px thicker', apply: (d) => onPaper(changeStrokeWidth(mnistFrame(d), 2.5)) },
  { id: 'stroke-thin', label: 'pen 1.5 px thinner', apply: (d) => onPaper(changeStrokeWidth(mnistFrame(d), -1.5)) },
];

/**
 * A random member of the same family, for training augmentation: none (one
 * in five), a random scan resolution (7-20 px) and/or binarisation
 * threshold, stretching, or a pen width change. `random` returns uniform
 * numbers in [0, 1).
 */
export function randomDegradation(digit: Uint8Array, random: () => number): GreyImage {
  let image = mnistFrame(digit);
  const kind = random();
  // Some left as they are: the model also learns how a clean upload looks after the serving preprocessing
  // (framed by the API's own crop, resize and centring rather than MNIST's), which is what users send most.
  if (kind < 0.2) return onPaper(image);
  if (kind < 0.4) {
    image = downsample(image, 7 + Math.floor(random() * 14));
    if (random() < 0.6) image = binarise(image, 0.25 + random() * 0.5);
  } else if (kind < 0.6) {
    image = binarise(image, 0.15 + random() * 0.7);
  } else if (kind < 0.8) {
    image = stretchToFill(image, 1 + random() * 1.5);
  } else {
    image = changeStrokeWidth(image, random() < 0.5 ? 0.5 + random() * 3 : -(0.5 + random() * 1.5));
  }
  return onPaper(image);
}

/**
 * A training input from an MNIST digit: a random degradation, then the
 * serving preprocessing (preprocessGreyImage), i.e. the 784 values the
 * model would get had a client uploaded that degraded digit. Null when the
 * preprocessing finds no digit in it (the degradation erased it).
 */
export function degradeForTraining(digit: Uint8Array, random: () => number): Float32Array | null {
  try {
    return preprocessGreyImage(randomDegradation(digit, random)).pixels;
  } catch (error) {
    if (error instanceof ImageError) return null;
    throw error;
  }
}
