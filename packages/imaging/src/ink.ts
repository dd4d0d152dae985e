/**
 * Finds the digit on a grey working image: background level and polarity
 * from the border, an Otsu threshold for the strokes, connected components
 * to drop specks, and a crop of the ink (white on black, soft edges kept).
 * Pure functions on pixel arrays; no sharp, no tfjs.
 */
import { ImageError } from './errors.ts';
import type { GreyImage } from './decode.ts';

export type Polarity = 'dark-on-light' | 'light-on-dark';

/** A rectangle in pixels; left/top inclusive. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface LocatedInk {
  polarity: Polarity;
  /** Median grey level of the border ring. */
  background: number;
  /** Where the ink is, in working-image pixels. */
  box: Box;
  /** The box's pixels as ink strength: 0 = background, 255 = full ink. */
  ink: Uint8Array;
}

const GREY_LEVELS = 256;
const MAX_GREY = 255;
/** Width of the border ring that samples the background, as a fraction of the shorter side (at least 1 px). */
const BORDER_RING_FRACTION = 0.03;
/** Scales a median absolute deviation to a standard deviation for Gaussian noise. */
const MAD_TO_SIGMA = 1.4826;
/** Ink must stand this many noise standard deviations above the background. */
const NOISE_SIGMAS = 4;
/** Faintest ink kept at the soft edges of strokes, on the 0-255 scale, whatever the noise. */
const MIN_EDGE_INK = 8;
/** A component smaller than this fraction of the largest one is a speck (dust, paper texture, JPEG noise). */
const SPECK_FRACTION = 0.05;
/** Below this many pixels (area) or this extent (longer side) the "digit" is a speck on an empty page. */
const MIN_INK_AREA = 6;
const MIN_INK_EXTENT = 4;
/** Margin searched around the thresholded strokes for their faint anti-aliased edges (blur radius + 1). */
const EDGE_MARGIN = 2;
/** Ink strength at this percentile of the stroke pixels becomes full ink (255), so faint pencil reaches 1.0. */
const FULL_INK_PERCENTILE = 0.9;

export function median(values: Uint8Array): number {
  const histogram = new Uint32Array(GREY_LEVELS);
  for (const v of values) histogram[v]!++;
  return histogramPercentile(histogram, values.length, 0.5);
}

function histogramPercentile(histogram: Uint32Array, count: number, fraction: number): number {
  const rank = Math.min(count - 1, Math.floor(fraction * count));
  let seen = 0;
  for (let level = 0; level < histogram.length; level++) {
    seen += histogram[level]!;
    if (seen > rank) return level;
  }
  return histogram.length - 1;
}

/** The pixels of the outer ring of the image, `ring` pixels wide. */
export function borderRing(image: GreyImage, ring: number): Uint8Array {
  const { data, width, height } = image;
  const values: number[] = [];
  for (let y = 0; y < height; y++) {
    const inBand = y < ring || y >= height - ring;
    for (let x = 0; x < width; x++) {
      if (inBand || x < ring || x >= width - ring) values.push(data[y * width + x]!);
    }
  }
  return Uint8Array.from(values);
}

/** Otsu's threshold: the level that best separates a 256-bin histogram into two classes. */
export function otsuThreshold(histogram: Uint32Array): number {
  let total = 0;
  let sumAll = 0;
  for (let level = 0; level < histogram.length; level++) {
    total += histogram[level]!;
    sumAll += level * histogram[level]!;
  }
  let weightBelow = 0;
  let sumBelow = 0;
  let best = 0;
  let bestVariance = -1;
  for (let level = 0; level < histogram.length; level++) {
    weightBelow += histogram[level]!;
    if (weightBelow === 0) continue;
    const weightAbove = total - weightBelow;
    if (weightAbove === 0) break;
    sumBelow += level * histogram[level]!;
    const meanBelow = sumBelow / weightBelow;
    const meanAbove = (sumAll - sumBelow) / weightAbove;
    const variance = weightBelow * weightAbove * (meanBelow - meanAbove) ** 2;
    if (variance > bestVariance) {
      bestVariance = variance;
      best = level;
    }
  }
  // Pixels above `best` form the upper class.
  return best + 1;
}

/** 3x3 mean with clamped edges; damps paper texture and JPEG noise before thresholding. */
export function boxBlur3(image: GreyImage): Uint8Array {
  const { data, width, height } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - 1);
    const y1 = Math.min(height - 1, y + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - 1);
      const x1 = Math.min(width - 1, x + 1);
      let sum = 0;
      for (let yy = y0; yy <= y1; yy++) for (let xx = x0; xx <= x1; xx++) sum += data[yy * width + xx]!;
      out[y * width + x] = Math.round(sum / ((y1 - y0 + 1) * (x1 - x0 + 1)));
    }
  }
  return out;
}

/**
 * 8-connected components of a mask. Returns a label per pixel (0 = not in
 * the mask, components numbered from 1) and each component's area (index 0 unused).
 */
export function labelComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; areas: number[] } {
  const labels = new Int32Array(mask.length);
  const areas = [0];
  const stack = new Int32Array(mask.length);
  for (let start = 0; start < mask.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const label = areas.length;
    let area = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top]!;
      area++;
      const px = p % width;
      const py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = py + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = px + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] && !labels[q]) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    areas.push(area);
  }
  return { labels, areas };
}

function blank(reason: string): ImageError {
  return new ImageError('IMAGE_BLANK', `no digit found: ${reason}`);
}

/**
 * Locates the ink. Throws ImageError IMAGE_BLANK when nothing differs from
 * the background by at least `minInkContrast` grey levels, or only specks do.
 */
export function locateInk(image: GreyImage, minInkContrast: number): LocatedInk {
  const { data, width, height } = image;
  const ring = borderRing(image, Math.max(1, Math.round(Math.min(width, height) * BORDER_RING_FRACTION)));
  const background = median(ring);
  const deviations = new Uint8Array(ring.length);
  ring.forEach((v, i) => (deviations[i] = Math.abs(v - background)));
  const noise = MAD_TO_SIGMA * median(deviations);

  // Polarity: on which side of the background lies more of the far-off mass?
  const smooth = boxBlur3(image);
  let darkMass = 0;
  let lightMass = 0;
  for (const v of smooth) {
    const d = v - background;
    if (d > minInkContrast) lightMass += d - minInkContrast;
    else if (-d > minInkContrast) darkMass += -d - minInkContrast;
  }
  if (darkMass === 0 && lightMass === 0) {
    throw blank(`nothing differs from the background (grey ${background}) by ${minInkContrast} levels or more`);
  }
  const polarity: Polarity = darkMass >= lightMass ? 'dark-on-light' : 'light-on-dark';
  const sign = polarity === 'dark-on-light' ? -1 : 1;
  const strengthOf = (v: number) => Math.max(0, sign * (v - background));

  const smoothStrength = new Uint8Array(smooth.length);
  const histogram = new Uint32Array(GREY_LEVELS);
  for (let i = 0; i < smooth.length; i++) {
    const s = strengthOf(smooth[i]!);
    smoothStrength[i] = s;
    histogram[s]!++;
  }
  const threshold = Math.max(minInkContrast, otsuThreshold(histogram), Math.ceil(NOISE_SIGMAS * noise));
  const mask = new Uint8Array(smooth.length);
  for (let i = 0; i < mask.length; i++) mask[i] = smoothStrength[i]! >= threshold ? 1 : 0;
  const { labels, areas } = labelComponents(mask, width, height);
  const largest = areas.reduce((a, b) => Math.max(a, b), 0);
  if (largest < MIN_INK_AREA) throw blank(`the largest mark is ${largest} pixel(s), too small to be a digit`);
  const keep = areas.map((area) => area >= SPECK_FRACTION * largest);
  keep[0] = false;

  // Box of the kept strokes, and the ink strength found on them.
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  const strokeHistogram = new Uint32Array(GREY_LEVELS);
  let strokePixels = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!keep[labels[i]!]) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
      strokeHistogram[strengthOf(data[i]!)]!++;
      strokePixels++;
    }
  }
  if (Math.max(right - left, bottom - top) + 1 < MIN_INK_EXTENT) {
    throw blank(`the marks span ${right - left + 1}x${bottom - top + 1} pixel(s), too small to be a digit`);
  }

  // Widen the box to take in the faint anti-aliased edges of the strokes, but not dropped specks.
  const edgeInk = Math.min(threshold, Math.max(MIN_EDGE_INK, Math.ceil(NOISE_SIGMAS * noise)));
  const fullInk = Math.max(edgeInk + 1, histogramPercentile(strokeHistogram, strokePixels, FULL_INK_PERCENTILE));
  const isInk = (i: number) => (labels[i] ? keep[labels[i]!]! : strengthOf(data[i]!) >= edgeInk);
  const x0 = Math.max(0, left - EDGE_MARGIN);
  const x1 = Math.min(width - 1, right + EDGE_MARGIN);
  const y0 = Math.max(0, top - EDGE_MARGIN);
  const y1 = Math.min(height - 1, bottom + EDGE_MARGIN);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!isInk(y * width + x)) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }

  const box: Box = { left, top, width: right - left + 1, height: bottom - top + 1 };
  const ink = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    for (let x = 0; x < box.width; x++) {
      const i = (top + y) * width + left + x;
      if (!isInk(i)) continue;
      ink[y * box.width + x] = Math.min(MAX_GREY, Math.round((MAX_GREY * strengthOf(data[i]!)) / fullInk));
    }
  }
  return { polarity, background, box, ink };
}
