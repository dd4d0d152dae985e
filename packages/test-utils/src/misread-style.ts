/**
 * A handwriting style the served model (digitnet v1) consistently misreads,
 * for testing that corrections teach it: the crossed zero. Writers who keep
 * 0 apart from the letter O (programmers, engineers, Nordic schools) strike
 * through it; drawn from top left to bottom right (a natural downstroke) and
 * overshooting the oval, the stroke crosses a right-leaning MNIST zero
 * against its slant and makes an X in the middle, which v1 reads as 8 (a few
 * as 2 or 4). A person still sees a zero with a stroke through it.
 *
 * Each image is a real MNIST digit (the caller passes training digits, never
 * test digits) scaled up, with the stroke added in about MNIST's pen width
 * and small seeded variation (overshoot, angle, width), as dark ink on white
 * paper: a PNG the API's preprocessing sees like any upload.
 * Measured on v1 through preprocessDigitImage and ONNX Runtime, the first
 * 300 zeros of the training split, seed 1: 298 misread (99.3%), 275 as 8,
 * 14 as 2, 9 as 4. test/e2e/feedback-loop.e2e.test.ts asserts the rate it
 * relies on against the live API.
 */
import sharp from 'sharp';
import { DIGIT_SIDE, PIXELS_PER_IMAGE } from '@digitq/contracts';

/** The label the style is written as, and what v1 mostly reads instead. */
export const CROSSED_ZERO_LABEL = 0;

/** Upscaling of the 28-px MNIST digit: the PNG is about as large as a small scan of one box. */
const SCALE = 4;
/** White paper around the digit, in output pixels: the stroke's overshoot must stay on the page. */
const MARGIN = 24;
const SIDE = DIGIT_SIDE * SCALE + 2 * MARGIN;
/** A pixel counts as ink for the digit's bounding box above this (of 255): MNIST's soft edges are left out. */
const INK_THRESHOLD = 100;
/** How far the stroke runs past the oval's corners, in MNIST pixels: [min, min + spread). Clearly past the oval, unlike an 8's crossing. */
const OVERSHOOT_MIN = 2;
const OVERSHOOT_SPREAD = 1.5;
/** Pen width of the stroke in MNIST pixels, [min, min + spread): MNIST's strokes are 2-3 px. */
const PEN_MIN = 2;
const PEN_SPREAD = 0.6;
/** Each end of the stroke moves up to this much (MNIST pixels) along each axis: angle and placement vary a little. */
const END_JITTER = 0.8;

/** Dark ink on white paper, 8-bit grey, row-major. */
export interface GreyPixels {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Anything with MNIST's layout: `count` 28x28 images, 0 = paper, 255 = ink. A DigitDataset fits. */
export interface DigitImages {
  readonly count: number;
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
}

export interface StyledDigit {
  /** Dark ink on white paper. */
  png: Buffer;
  /** The true digit. */
  label: number;
  /** Index of the source digit in the set it came from. */
  source: number;
}

/** mulberry32: a tiny seeded generator, so the same seed always draws the same images. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ink in [0, 1] on the output canvas: the 28x28 digit scaled up bilinearly (MNIST's soft strokes stay soft). */
function scaledInk(digit: Uint8Array): Float32Array {
  const ink = new Float32Array(SIDE * SIDE);
  const at = (x: number, y: number) => (x < 0 || y < 0 || x >= DIGIT_SIDE || y >= DIGIT_SIDE ? 0 : digit[y * DIGIT_SIDE + x]! / 255);
  for (let y = 0; y < DIGIT_SIDE * SCALE; y++) {
    for (let x = 0; x < DIGIT_SIDE * SCALE; x++) {
      const sx = (x + 0.5) / SCALE - 0.5;
      const sy = (y + 0.5) / SCALE - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      ink[(y + MARGIN) * SIDE + x + MARGIN] =
        at(x0, y0) * (1 - fx) * (1 - fy) + at(x0 + 1, y0) * fx * (1 - fy) + at(x0, y0 + 1) * (1 - fx) * fy + at(x0 + 1, y0 + 1) * fx * fy;
    }
  }
  return ink;
}

/** A round-capped pen stroke from (x0, y0) to (x1, y1), in MNIST pixel coordinates, anti-aliased over one output pixel. */
function drawStroke(ink: Float32Array, x0: number, y0: number, x1: number, y1: number, pen: number): void {
  const out = (v: number) => v * SCALE + MARGIN;
  const [ax, ay, bx, by] = [out(x0), out(y0), out(x1), out(y1)];
  const half = (pen * SCALE) / 2;
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy || 1;
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const px = x + 0.5;
      const py = y + 0.5;
      const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2));
      const distance = Math.hypot(ax + t * dx - px, ay + t * dy - py);
      const v = Math.max(0, Math.min(1, half - distance + 0.5));
      if (v > ink[y * SIDE + x]!) ink[y * SIDE + x] = v;
    }
  }
}

function inkBox(digit: Uint8Array): { left: number; right: number; top: number; bottom: number } {
  let [left, right, top, bottom] = [DIGIT_SIDE, -1, DIGIT_SIDE, -1];
  for (let y = 0; y < DIGIT_SIDE; y++) {
    for (let x = 0; x < DIGIT_SIDE; x++) {
      if (digit[y * DIGIT_SIDE + x]! <= INK_THRESHOLD) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  if (right < 0) throw new RangeError('the digit has no ink');
  return { left, right, top, bottom };
}

function toPaper(ink: Float32Array): GreyPixels {
  const data = new Uint8Array(SIDE * SIDE);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(255 * (1 - ink[i]!));
  return { data, width: SIDE, height: SIDE };
}

function checkDigit(digit: Uint8Array): void {
  if (digit.length !== PIXELS_PER_IMAGE) throw new RangeError(`a digit has ${PIXELS_PER_IMAGE} pixels, got ${digit.length}`);
}

/** One MNIST digit (784 bytes) as it is, rendered like the crossed zeros: the control group. */
export function renderMnistDigit(digit: Uint8Array): GreyPixels {
  checkDigit(digit);
  return toPaper(scaledInk(digit));
}

/** One MNIST zero (784 bytes) crossed from top left to bottom right. */
export function crossZero(digit: Uint8Array, random: () => number): GreyPixels {
  checkDigit(digit);
  const box = inkBox(digit);
  const overshoot = OVERSHOOT_MIN + OVERSHOOT_SPREAD * random();
  const pen = PEN_MIN + PEN_SPREAD * random();
  const jitter = () => (random() * 2 - 1) * END_JITTER;
  const ink = scaledInk(digit);
  // The overshoot runs along the diagonal, a little more vertically than horizontally (boxes are taller than wide).
  drawStroke(ink, box.left - overshoot * 0.7 + jitter(), box.top - overshoot + jitter(), box.right + overshoot * 0.7 + jitter(), box.bottom + overshoot + jitter(), pen);
  return toPaper(ink);
}

export interface DigitSelection {
  /** How many images. */
  count: number;
  /** Skip this many matching digits of the set first (to draw disjoint batches from one set). Default 0. */
  skip?: number;
}

/** Indexes of `count` digits of `set` whose label passes `wanted`, in the set's order, after skipping `skip` of them. */
function select(set: DigitImages, wanted: (label: number) => boolean, { count, skip = 0 }: DigitSelection): number[] {
  const sources: number[] = [];
  let skipped = 0;
  for (let i = 0; i < set.count && sources.length < count; i++) {
    if (!wanted(set.labels[i]!)) continue;
    if (skipped < skip) skipped++;
    else sources.push(i);
  }
  if (sources.length < count) throw new RangeError(`the set has ${sources.length} matching digits after skipping ${skip}, ${count} wanted`);
  return sources;
}

const digitAt = (set: DigitImages, i: number) => set.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);

async function encodePng(grey: GreyPixels): Promise<Buffer> {
  return sharp(grey.data, { raw: { width: grey.width, height: grey.height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/**
 * Crossed zeros made from distinct zeros of `set` (in the set's order, after
 * skipping `skip` zeros), each with its own variation from one seeded
 * sequence (`seed`, default 1). Throws if the set has too few zeros.
 */
export async function crossedZeroImages(set: DigitImages, options: DigitSelection & { seed?: number }): Promise<StyledDigit[]> {
  const random = seededRandom(options.seed ?? 1);
  const sources = select(set, (label) => label === CROSSED_ZERO_LABEL, options);
  // Drawn in order first, so each image's variation depends only on the seed and its place.
  const drawn = sources.map((source) => ({ source, grey: crossZero(digitAt(set, source), random) }));
  return Promise.all(drawn.map(async ({ source, grey }) => ({ png: await encodePng(grey), label: CROSSED_ZERO_LABEL, source })));
}

/** Digits of `set` as they are (every label, or those in `labels`), rendered like the crossed zeros. */
export async function plainDigitImages(set: DigitImages, options: DigitSelection & { labels?: readonly number[] }): Promise<StyledDigit[]> {
  const sources = select(set, (label) => !options.labels || options.labels.includes(label), options);
  return Promise.all(sources.map(async (source) => ({ png: await encodePng(renderMnistDigit(digitAt(set, source))), label: set.labels[source]!, source })));
}
