/**
 * Finds the digit on a grey working image: background plane and polarity
 * from the border, an Otsu threshold for the strokes, connected components
 * to drop specks, and a crop of the ink (white on black, soft edges kept).
 * Pure functions on pixel arrays; no sharp, no tfjs.
 */
import { ImageError } from './errors.ts';
import { backgroundAt, fitBackground, planeX, planeY, type BackgroundPlane } from './background.ts';
import type { GreyImage } from './decode.ts';
import { strokeWidth } from './stroke.ts';

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
  /** Grey level of the background at the image centre. */
  background: number;
  /** Where the ink is, in working-image pixels. */
  box: Box;
  /** The box's pixels as ink strength: 0 = background, 255 = full ink. */
  ink: Uint8Array;
}

const GREY_LEVELS = 256;
const MAX_GREY = 255;
/** Ink must stand this many noise standard deviations above the background. */
const NOISE_SIGMAS = 4;
/** Faintest ink kept at the soft edges of strokes, on the 0-255 scale, whatever the noise. */
const MIN_EDGE_INK = 8;
/** A component smaller than this fraction of the largest one is a speck (dust, paper texture, JPEG noise). */
const SPECK_FRACTION = 0.05;
/**
 * Below this many pixels (area), or an extent (longer side, after the 3x3
 * blur) under MIN_INK_EXTENT pixels or MIN_INK_EXTENT_FRACTION of the image's
 * longer side, the "digit" is a speck on an empty page.
 */
const MIN_INK_AREA = 6;
const MIN_INK_EXTENT = 5;
const MIN_INK_EXTENT_FRACTION = 0.02;
/** Margin searched around the thresholded strokes for their faint anti-aliased edges (blur radius + 1). */
const EDGE_MARGIN = 2;
/** Ink strength at this percentile of the stroke pixels becomes full ink (255), so faint pencil reaches 1.0. */
const FULL_INK_PERCENTILE = 0.9;
/** Ink at least this strong counts as solid (for the fill of a found shape). */
const SOLID_INK = 128;
/**
 * Light "ink" is a sheet of paper photographed on a darker surface, not a
 * bold light digit, only when all of these hold:
 * - its box covers at least SHEET_MIN_AREA_FRACTION of the image;
 * - its silhouette (the shape with its holes filled) is a rectangle, tilted
 *   or not: it fills SHEET_MIN_RECTANGULARITY of the smallest rotated
 *   rectangle around it (an ellipse fills 0.79);
 * - it is solid over SHEET_MIN_SOLID of its silhouette (the writing is small);
 * - what is written on it spans at least SHEET_MIN_DIGIT_FRACTION of the
 *   sheet's longer side, and is drawn in strokes (stroke width at most
 *   SHEET_MAX_STROKE_RATIO of its longer side), not the blob-shaped holes
 *   of a bold 0, 6, 8 or 9.
 */
const SHEET_MIN_AREA_FRACTION = 0.25;
const SHEET_MIN_RECTANGULARITY = 0.9;
const SHEET_MIN_SOLID = 0.85;
const SHEET_MIN_DIGIT_FRACTION = 0.15;
const SHEET_MAX_STROKE_RATIO = 0.2;
/** Rotations tried for the smallest enclosing rectangle, in whole degrees (0-89 covers every rectangle). */
const RIGHT_ANGLE_DEGREES = 90;
/** Boundary points used for that rectangle, at most. */
const MAX_HULL_POINTS = 4096;
/** Pixels this close to the surface around a sheet are not searched for the digit (shadowed, blurred sheet edge). */
const SHEET_EDGE = 2;

function histogramPercentile(histogram: Uint32Array, count: number, fraction: number): number {
  const rank = Math.min(count - 1, Math.floor(fraction * count));
  let seen = 0;
  for (let level = 0; level < histogram.length; level++) {
    seen += histogram[level]!;
    if (seen > rank) return level;
  }
  return histogram.length - 1;
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

/** 3x3 mean (separable, edges clamped); damps paper texture and JPEG noise before thresholding. */
export function boxBlur3(image: GreyImage): Uint8Array {
  const { data, width, height } = image;
  const rows = new Uint16Array(data.length);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    for (let x = 0; x < width; x++) {
      rows[o + x] = data[o + Math.max(0, x - 1)]! + data[o + x]! + data[o + Math.min(width - 1, x + 1)]!;
    }
  }
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const above = Math.max(0, y - 1) * width;
    const below = Math.min(height - 1, y + 1) * width;
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = Math.round((rows[above + x]! + rows[o + x]! + rows[below + x]!) / 9);
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

/** Signed distance of each pixel from the background plane (positive = lighter), in grey levels. */
function deviations(grey: Uint8Array, width: number, height: number, background: BackgroundPlane): Float32Array {
  const out = new Float32Array(grey.length);
  for (let y = 0; y < height; y++) {
    const rowLevel = background.level + background.slopeY * planeY(y, height);
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      out[i] = grey[i]! - (rowLevel + background.slopeX * planeX(x, width));
    }
  }
  return out;
}

/** Ink strength, 0-255: the deviation towards the ink side. */
function inkStrength(deviation: Float32Array, polarity: Polarity): Uint8Array {
  const out = new Uint8Array(deviation.length);
  const sign = polarity === 'dark-on-light' ? -1 : 1;
  for (let i = 0; i < deviation.length; i++) out[i] = Math.min(MAX_GREY, Math.max(0, Math.round(sign * deviation[i]!)));
  return out;
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
  const background = fitBackground(image);
  const noise = background.noise;

  // Polarity: on which side of the background lies more of the far-off mass?
  const smoothDeviation = deviations(boxBlur3(image), width, height, background);
  let darkMass = 0;
  let lightMass = 0;
  for (let i = 0; i < smoothDeviation.length; i++) {
    const d = smoothDeviation[i]!;
    if (d > minInkContrast) lightMass += d - minInkContrast;
    else if (-d > minInkContrast) darkMass += -d - minInkContrast;
  }
  if (darkMass === 0 && lightMass === 0) {
    throw blank(`nothing differs from the background (grey ${Math.round(background.level)}) by ${minInkContrast} levels or more`);
  }
  const polarity: Polarity = darkMass >= lightMass ? 'dark-on-light' : 'light-on-dark';
  // Ink strength: distance from the background towards the ink side, 0-255.
  const strength = inkStrength(deviations(data, width, height, background), polarity);
  const smoothStrength = inkStrength(smoothDeviation, polarity);
  const histogram = new Uint32Array(GREY_LEVELS);
  for (let i = 0; i < smoothStrength.length; i++) histogram[smoothStrength[i]!]!++;
  const threshold = Math.max(minInkContrast, otsuThreshold(histogram), Math.ceil(NOISE_SIGMAS * noise));
  const mask = new Uint8Array(smoothStrength.length);
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
      strokeHistogram[strength[i]!]!++;
      strokePixels++;
    }
  }
  const minExtent = Math.max(MIN_INK_EXTENT, Math.round(MIN_INK_EXTENT_FRACTION * Math.max(width, height)));
  if (Math.max(right - left, bottom - top) + 1 < minExtent) {
    throw blank(`the marks span ${right - left + 1}x${bottom - top + 1} pixel(s), too small to be a digit`);
  }

  // Widen the box to take in the faint anti-aliased edges of the strokes, but not dropped specks.
  const edgeInk = Math.min(threshold, Math.max(MIN_EDGE_INK, Math.ceil(NOISE_SIGMAS * noise)));
  const fullInk = Math.max(edgeInk + 1, histogramPercentile(strokeHistogram, strokePixels, FULL_INK_PERCENTILE));
  const isInk = (i: number) => (labels[i] ? keep[labels[i]!]! : strength[i]! >= edgeInk);
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
      ink[y * box.width + x] = Math.min(MAX_GREY, Math.round((MAX_GREY * strength[i]!) / fullInk));
    }
  }
  return { polarity, background: Math.round(background.level), box, ink };
}

/** Pixels of a found shape's box that lie outside it: reached from the box edge without crossing solid ink. */
function outsideOf(found: LocatedInk): Uint8Array {
  const { ink } = found;
  const { width, height } = found.box;
  const outside = new Uint8Array(width * height);
  const stack: number[] = [];
  const visit = (x: number, y: number) => {
    const i = y * width + x;
    if (outside[i] || ink[i]! >= SOLID_INK) return;
    outside[i] = 1;
    stack.push(i);
  };
  for (let x = 0; x < width; x++) {
    visit(x, 0);
    visit(x, height - 1);
  }
  for (let y = 0; y < height; y++) {
    visit(0, y);
    visit(width - 1, y);
  }
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % width;
    const y = (i - x) / width;
    if (x > 0) visit(x - 1, y);
    if (x < width - 1) visit(x + 1, y);
    if (y > 0) visit(x, y - 1);
    if (y < height - 1) visit(x, y + 1);
  }
  return outside;
}

/**
 * A sheet of paper on a darker surface: light "ink" covering a large part of
 * the image, whose silhouette (the shape with its holes filled) is mostly
 * solid, the holes (whatever is written on it) being a small part.
 */
function looksLikeSheet(found: LocatedInk, image: GreyImage, outside: Uint8Array): boolean {
  if (found.polarity !== 'light-on-dark') return false;
  const { width, height } = found.box;
  if (width * height < SHEET_MIN_AREA_FRACTION * image.width * image.height) return false;
  let inside = 0;
  let solid = 0;
  const boundary: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (outside[i]) continue;
      inside++;
      if (found.ink[i]! >= SOLID_INK) solid++;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || outside[i - 1] || outside[i + 1] || outside[i - width] || outside[i + width];
      if (edge) boundary.push(x, y);
    }
  }
  if (solid < SHEET_MIN_SOLID * inside) return false;
  return inside >= SHEET_MIN_RECTANGULARITY * smallestRotatedRectangle(boundary);
}

/** Area of the smallest rectangle, at any whole-degree rotation, holding the points (x, y pairs) as pixels. */
function smallestRotatedRectangle(points: number[]): number {
  const count = points.length / 2;
  const step = Math.max(1, Math.ceil(count / MAX_HULL_POINTS));
  let best = Infinity;
  for (let degrees = 0; degrees < RIGHT_ANGLE_DEGREES; degrees++) {
    const angle = (degrees * Math.PI) / 180;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    let minU = Infinity;
    let maxU = -Infinity;
    let minV = Infinity;
    let maxV = -Infinity;
    for (let p = 0; p < count; p += step) {
      const x = points[2 * p]!;
      const y = points[2 * p + 1]!;
      const u = x * cos + y * sin;
      const v = y * cos - x * sin;
      minU = Math.min(minU, u);
      maxU = Math.max(maxU, u);
      minV = Math.min(minV, v);
      maxV = Math.max(maxV, v);
    }
    best = Math.min(best, (maxU - minU + 1) * (maxV - minV + 1));
  }
  return best;
}

/**
 * The sheet alone: its box cut out of the image, with the surface around it
 * (and SHEET_EDGE pixels of the sheet's blurred, shadowed edge) painted over
 * with the paper's own background plane, fitted on the sheet.
 */
function sheetOnly(found: LocatedInk, image: GreyImage, outside: Uint8Array): GreyImage {
  const { box } = found;
  const { width, height } = box;
  const data = new Uint8Array(width * height);
  const paper = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data[y * width + x] = image.data[(box.top + y) * image.width + box.left + x]!;
      let nearOutside = false;
      for (let dy = -SHEET_EDGE; dy <= SHEET_EDGE && !nearOutside; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -SHEET_EDGE; dx <= SHEET_EDGE && !nearOutside; dx++) {
          const xx = x + dx;
          nearOutside = xx >= 0 && xx < width && outside[yy * width + xx] === 1;
        }
      }
      paper[y * width + x] = nearOutside ? 0 : 1;
    }
  }
  const sheet = { data, width, height };
  const plane = fitBackground(sheet, paper);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!paper[i]) data[i] = Math.min(MAX_GREY, Math.max(0, Math.round(backgroundAt(plane, x, y, width, height))));
    }
  }
  return sheet;
}

/**
 * locateInk, but when what it finds is a whole sheet of paper lying on a
 * darker surface (a phone photo of a page on a desk), the digit written on
 * that sheet. When the sheet holds no stroke-drawn, digit-sized writing, the
 * first finding stands.
 */
export function locateDigit(image: GreyImage, minInkContrast: number): LocatedInk {
  const found = locateInk(image, minInkContrast);
  if (found.polarity !== 'light-on-dark') return found;
  const outside = outsideOf(found);
  if (!looksLikeSheet(found, image, outside)) return found;
  let onSheet: LocatedInk;
  try {
    onSheet = locateInk(sheetOnly(found, image, outside), minInkContrast);
  } catch (error) {
    if (error instanceof ImageError && error.code === 'IMAGE_BLANK') return found;
    throw error;
  }
  const digitSide = Math.max(onSheet.box.width, onSheet.box.height);
  if (digitSide < SHEET_MIN_DIGIT_FRACTION * Math.max(found.box.width, found.box.height)) return found;
  if (strokeWidth({ ink: onSheet.ink, width: onSheet.box.width, height: onSheet.box.height }) > SHEET_MAX_STROKE_RATIO * digitSide) return found;
  return { ...onSheet, box: { ...onSheet.box, left: onSheet.box.left + found.box.left, top: onSheet.box.top + found.box.top } };
}
