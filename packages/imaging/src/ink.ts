/**
 * Finds the digit on a grey working image: background plane and polarity
 * from the border, an Otsu threshold for the strokes, connected components
 * to drop specks, and a crop of the ink (white on black, soft edges kept).
 * Pure functions on pixel arrays; no sharp, no tfjs.
 */
import { ImageError } from './errors.ts';
import { backgroundAt, fitBackground, planeX, planeY } from './background.ts';
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
/** Signed ink strengths -255..255 (deviation towards light positive). */
const SIGNED_LEVELS = 2 * MAX_GREY + 1;
/** Copies of a per-pixel histogram, a power of 2 (see scanBlurred). */
const HISTOGRAM_COPIES = 4;
/** Initial capacity of a growable pixel list. */
const MIN_LIST = 64;
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
/**
 * An image this small (longer side, pixels) is one digit's cell, e.g. a form
 * scanned at 8x8 or 16x16: its marks are the digit, however few pixels they
 * take, so only TINY_MIN_INK pixels (area and extent) are asked of them.
 */
const TINY_IMAGE_SIDE = 24;
const TINY_MIN_INK = 3;
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

function histogramPercentile(histogram: ArrayLike<number>, count: number, fraction: number): number {
  const rank = Math.min(count - 1, Math.floor(fraction * count));
  let seen = 0;
  for (let level = 0; level < histogram.length; level++) {
    seen += histogram[level]!;
    if (seen > rank) return level;
  }
  return histogram.length - 1;
}

/** Otsu's threshold: the level that best separates a 256-bin histogram into two classes. */
export function otsuThreshold(histogram: ArrayLike<number>): number {
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

/** round(sum / 9) for every sum of nine 8-bit values. */
const MEAN_OF_NINE = Uint8Array.from({ length: 9 * MAX_GREY + 1 }, (_, sum) => Math.round(sum / 9));

/**
 * 3x3 mean (edges clamped); damps paper texture and JPEG noise before
 * thresholding. Each row rolls a window of three column sums along;
 * scanBlurred computes the same mean inline, in its pass over the image.
 */
export function boxBlur3({ data, width, height }: GreyImage): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const above = Math.max(0, y - 1) * width;
    const o = y * width;
    const below = Math.min(height - 1, y + 1) * width;
    let left3 = data[above]! + data[o]! + data[below]!;
    let centre3 = left3;
    for (let x = 0; x < width; x++) {
      const right3 = x + 1 < width ? data[above + x + 1]! + data[o + x + 1]! + data[below + x + 1]! : centre3;
      out[o + x] = MEAN_OF_NINE[left3 + centre3 + right3]!;
      left3 = centre3;
      centre3 = right3;
    }
  }
  return out;
}

/** A growable list of pixel indices. */
interface PixelList {
  items: Int32Array<ArrayBuffer>;
  length: number;
}

function grow<T extends Int32Array<ArrayBuffer> | Int16Array<ArrayBuffer>>(array: T): T {
  const bigger = new (array.constructor as new (length: number) => T)(array.length * 2);
  bigger.set(array);
  return bigger;
}

function pushPixel(list: PixelList, index: number): void {
  if (list.length === list.items.length) list.items = grow(list.items);
  list.items[list.length++] = index;
}

/**
 * Pixels that may belong to the mask, in scan order, each with its signed
 * ink strength (positive for light ink, negative for dark ink).
 */
interface Candidates {
  x: Int32Array<ArrayBuffer>;
  y: Int32Array<ArrayBuffer>;
  strength: Int16Array<ArrayBuffer>;
  length: number;
}

function newCandidates(capacity: number): Candidates {
  return { x: new Int32Array(capacity), y: new Int32Array(capacity), strength: new Int16Array(capacity), length: 0 };
}

function pushCandidate(list: Candidates, x: number, y: number, strength: number): void {
  if (list.length === list.x.length) {
    list.x = grow(list.x);
    list.y = grow(list.y);
    list.strength = grow(list.strength);
  }
  list.x[list.length] = x;
  list.y[list.length] = y;
  list.strength[list.length++] = strength;
}

/** 8-connected components of a mask, as horizontal runs of mask pixels each with its component's label. */
interface Components {
  /** Per run: row, first and last column, label (from 1). Runs are in scan order. */
  runY: Int32Array;
  runStart: Int32Array;
  runEnd: Int32Array;
  runLabel: Int32Array;
  /** Per label (index 0 unused): area, and bounding box. */
  areas: number[];
  left: number[];
  right: number[];
  top: number[];
  bottom: number[];
}

/**
 * 8-connected components of the candidates whose signed strength s has
 * sign * s >= min: runs along each row, joined (union-find) to the runs of
 * the row above that touch them, diagonally included. Costs in proportion to
 * the candidates, not to the image.
 */
function labelCandidates(candidates: Candidates, sign: number, min: number): Components {
  const runY = new Int32Array(candidates.length);
  const runStart = new Int32Array(candidates.length);
  const runEnd = new Int32Array(candidates.length);
  let runs = 0;
  for (let c = 0; c < candidates.length; c++) {
    if (sign * candidates.strength[c]! < min) continue;
    const x = candidates.x[c]!;
    const y = candidates.y[c]!;
    if (runs > 0 && runY[runs - 1] === y && runEnd[runs - 1] === x - 1) {
      runEnd[runs - 1] = x;
      continue;
    }
    runY[runs] = y;
    runStart[runs] = x;
    runEnd[runs++] = x;
  }

  const parent = new Int32Array(runs);
  const find = (r: number): number => {
    while (parent[r] !== r) {
      parent[r] = parent[parent[r]!]!;
      r = parent[r]!;
    }
    return r;
  };
  // Runs of the row above the current one: [aboveFirst, aboveEnd).
  let aboveFirst = 0;
  let aboveEnd = 0;
  let rowFirst = 0;
  for (let r = 0; r < runs; r++) {
    parent[r] = r;
    if (r === 0 || runY[r] !== runY[r - 1]) {
      const previousRowFirst = rowFirst;
      rowFirst = r;
      const previousRowAdjacent = r > 0 && runY[r - 1] === runY[r]! - 1;
      aboveFirst = previousRowAdjacent ? previousRowFirst : r;
      aboveEnd = r;
    }
    // Skip the runs above that end left of this one's reach; join those that touch it.
    while (aboveFirst < aboveEnd && runEnd[aboveFirst]! < runStart[r]! - 1) aboveFirst++;
    for (let a = aboveFirst; a < aboveEnd && runStart[a]! <= runEnd[r]! + 1; a++) {
      const ra = find(a);
      const rr = find(r);
      if (ra !== rr) parent[Math.max(ra, rr)] = Math.min(ra, rr);
    }
  }

  const components: Components = { runY, runStart, runEnd, runLabel: new Int32Array(runs), areas: [0], left: [0], right: [0], top: [0], bottom: [0] };
  const labelOfRoot = new Int32Array(runs);
  for (let r = 0; r < runs; r++) {
    const root = find(r);
    let label = labelOfRoot[root]!;
    if (label === 0) {
      label = labelOfRoot[root] = components.areas.length;
      components.areas.push(0);
      components.left.push(runStart[r]!);
      components.right.push(runEnd[r]!);
      components.top.push(runY[r]!);
      components.bottom.push(runY[r]!);
    }
    components.runLabel[r] = label;
    components.areas[label]! += runEnd[r]! - runStart[r]! + 1;
    if (runStart[r]! < components.left[label]!) components.left[label] = runStart[r]!;
    if (runEnd[r]! > components.right[label]!) components.right[label] = runEnd[r]!;
    components.bottom[label] = runY[r]!;
  }
  return components;
}

/** The components' labels painted on a width x height grid whose top left is (left, top) of the image; 0 elsewhere. */
function paintLabels(components: Components, left: number, top: number, width: number, height: number): Int32Array {
  const labels = new Int32Array(width * height);
  const { runY, runStart, runEnd, runLabel } = components;
  for (let r = 0; r < runLabel.length; r++) {
    const y = runY[r]! - top;
    if (y < 0 || y >= height) continue;
    const from = Math.max(runStart[r]!, left);
    const to = Math.min(runEnd[r]!, left + width - 1);
    if (from <= to) labels.fill(runLabel[r]!, y * width + from - left, y * width + to - left + 1);
  }
  return labels;
}

/**
 * 8-connected components of a mask. Returns a label per pixel (0 = not in
 * the mask, components numbered from 1) and each component's area (index 0 unused).
 */
export function labelComponents(mask: Uint8Array, width: number, height: number): { labels: Int32Array; areas: number[] } {
  const candidates = newCandidates(Math.max(1, mask.length));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) if (mask[y * width + x]) pushCandidate(candidates, x, y, 1);
  }
  const components = labelCandidates(candidates, 1, 1);
  return { labels: paintLabels(components, 0, 0, width, height), areas: components.areas };
}

/** What scanBlurred finds in one pass over the blurred image. */
interface BlurredScan {
  /** How far, in total, deviations go beyond minInkContrast on the dark and on the light side. */
  darkMass: number;
  lightMass: number;
  /**
   * Counts of the smooth deviation rounded half away from zero (as Math.round(d) rounds light ink
   * and Math.round(-d) dark ink) and clamped to +-255, a signed strength whose positive part is the
   * light-ink strength and negative part the dark-ink strength, at index strength + 255, in
   * HISTOGRAM_COPIES copies to be summed.
   */
  signedHistogram: Int32Array;
  /** Pixels whose strength reaches minInkContrast (the least threshold), with their signed strength. */
  candidates: Candidates;
}

/**
 * The pass over every pixel, kept lean and in a function of its own so that
 * V8 keeps its variables in registers: no call in the pixel loop, and no
 * branch on the sign of a deviation for most pixels (on noisy paper it is
 * random); neighbouring pixels count into different copies of the histogram
 * (most land in the same bin, and each increment would wait for the last).
 */
function scanBlurred(image: GreyImage, rowLevel: Float64Array, columnLevel: Float64Array, minInkContrast: number): BlurredScan {
  const { data, width, height } = image;
  // Int32Array: V8 keeps its elements in integer registers (a Uint32Array's may not fit one).
  const signedHistogram = new Int32Array(HISTOGRAM_COPIES * SIGNED_LEVELS);
  // Strokes cover a small part of an image: start small, grow when needed.
  const candidates = newCandidates(Math.max(MIN_LIST, (width * height) >> 4));
  // A deviation adds to a mass when beyond minInkContrast, and makes a candidate when it rounds to
  // minInkContrast or more: both only past this bound, so most pixels skip that branch.
  const rare = Math.min(minInkContrast, Math.ceil(minInkContrast) - 0.5);
  let darkMass = 0;
  let lightMass = 0;
  // A row's candidates, listed after the row.
  const rowX = new Int32Array(width);
  const rowStrength = new Int16Array(width);
  for (let y = 0; y < height; y++) {
    const above = Math.max(0, y - 1) * width;
    const o = y * width;
    const below = Math.min(height - 1, y + 1) * width;
    const level = rowLevel[y]!;
    let found = 0;
    // boxBlur3's mean, from a window of three column sums rolled along the row.
    let left3 = data[above]! + data[o]! + data[below]!;
    let centre3 = left3;
    for (let x = 0; x < width; x++) {
      const right3 = x + 1 < width ? data[above + x + 1]! + data[o + x + 1]! + data[below + x + 1]! : centre3;
      // The deviation at single precision, as locateInk has always kept it.
      const d = Math.fround(MEAN_OF_NINE[left3 + centre3 + right3]! - (level + columnLevel[x]!));
      left3 = centre3;
      centre3 = right3;
      // Rounded half away from zero: d is a float32 value, so d + 0.5 and r - d are exact.
      let r = Math.floor(d + 0.5);
      if (r - d === 0.5 && d < 0) r -= 1;
      const signed = Math.max(-MAX_GREY, Math.min(MAX_GREY, r)) | 0;
      signedHistogram[(x & (HISTOGRAM_COPIES - 1)) * SIGNED_LEVELS + signed + MAX_GREY]!++;
      if (Math.abs(d) < rare) continue;
      if (d > minInkContrast) lightMass += d - minInkContrast;
      else if (-d > minInkContrast) darkMass += -d - minInkContrast;
      if ((signed < 0 ? -signed : signed) < minInkContrast) continue;
      rowX[found] = x;
      rowStrength[found++] = signed;
    }
    for (let i = 0; i < found; i++) pushCandidate(candidates, rowX[i]!, y, rowStrength[i]!);
  }
  return { darkMass, lightMass, signedHistogram, candidates };
}

/** Ink strength, 0-255, of deviation d (a float32 value) from the background: its size towards the ink side, rounded. */
function strengthOf(d: number, sign: number): number {
  const towardsInk = sign * d;
  // Math.round, as towardsInk + 0.5 is exact for a float32 value and truncation is floor when positive.
  return towardsInk <= 0 ? 0 : Math.min(MAX_GREY, (towardsInk + 0.5) | 0);
}

function blank(reason: string): ImageError {
  return new ImageError('IMAGE_BLANK', `no digit found: ${reason}`);
}

/**
 * Locates the ink. Throws ImageError IMAGE_BLANK when nothing differs from
 * the background by at least `minInkContrast` grey levels, or only specks do.
 *
 * Deviations from the background plane are computed at single precision
 * (the blurred ones once, for every pixel; the sharp ones only around the
 * strokes), and the blurred ones kept only as rounded ink strengths.
 */
export function locateInk(image: GreyImage, minInkContrast: number): LocatedInk {
  const { data, width, height } = image;
  const background = fitBackground(image);
  const noise = background.noise;
  const columnLevel = new Float64Array(width);
  for (let x = 0; x < width; x++) columnLevel[x] = background.slopeX * planeX(x, width);
  const rowLevel = new Float64Array(height);
  for (let y = 0; y < height; y++) rowLevel[y] = background.level + background.slopeY * planeY(y, height);

  // Polarity: on which side of the background lies more of the far-off mass?
  const { darkMass, lightMass, signedHistogram, candidates } = scanBlurred(image, rowLevel, columnLevel, minInkContrast);
  if (darkMass === 0 && lightMass === 0) {
    throw blank(`nothing differs from the background (grey ${Math.round(background.level)}) by ${minInkContrast} levels or more`);
  }
  const polarity: Polarity = darkMass >= lightMass ? 'dark-on-light' : 'light-on-dark';
  const sign = polarity === 'dark-on-light' ? -1 : 1;
  // Strength histogram: the deviations towards the ink side; the rest are 0.
  const histogram = new Int32Array(GREY_LEVELS);
  let counted = 0;
  for (let level = 1; level < GREY_LEVELS; level++) {
    for (let copy = 0; copy < HISTOGRAM_COPIES; copy++) histogram[level]! += signedHistogram[copy * SIGNED_LEVELS + MAX_GREY + sign * level]!;
    counted += histogram[level]!;
  }
  histogram[0] = width * height - counted;
  const threshold = Math.max(minInkContrast, otsuThreshold(histogram), Math.ceil(NOISE_SIGMAS * noise));
  const components = labelCandidates(candidates, sign, threshold);
  const { areas } = components;
  const largest = areas.reduce((a, b) => Math.max(a, b), 0);
  const tiny = Math.max(width, height) <= TINY_IMAGE_SIDE;
  if (largest < (tiny ? TINY_MIN_INK : MIN_INK_AREA)) throw blank(`the largest mark is ${largest} pixel(s), too small to be a digit`);
  const keep = new Uint8Array(areas.length);
  for (let label = 1; label < areas.length; label++) keep[label] = areas[label]! >= SPECK_FRACTION * largest ? 1 : 0;

  // Box of the kept strokes.
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let label = 1; label < areas.length; label++) {
    if (!keep[label]) continue;
    left = Math.min(left, components.left[label]!);
    right = Math.max(right, components.right[label]!);
    top = Math.min(top, components.top[label]!);
    bottom = Math.max(bottom, components.bottom[label]!);
  }
  const minExtent = tiny ? TINY_MIN_INK : Math.max(MIN_INK_EXTENT, Math.round(MIN_INK_EXTENT_FRACTION * Math.max(width, height)));
  if (Math.max(right - left, bottom - top) + 1 < minExtent) {
    throw blank(`the marks span ${right - left + 1}x${bottom - top + 1} pixel(s), too small to be a digit`);
  }

  // Around the strokes (the box and the margin searched for their faint anti-aliased edges): ink
  // strength of the unblurred image, its histogram on the kept strokes, and which pixels are ink:
  // the kept strokes, and unlabelled pixels at least edgeInk strong (not dropped specks).
  const edgeInk = Math.min(threshold, Math.max(MIN_EDGE_INK, Math.ceil(NOISE_SIGMAS * noise)));
  const x0 = Math.max(0, left - EDGE_MARGIN);
  const x1 = Math.min(width - 1, right + EDGE_MARGIN);
  const y0 = Math.max(0, top - EDGE_MARGIN);
  const y1 = Math.min(height - 1, bottom + EDGE_MARGIN);
  const regionWidth = x1 - x0 + 1;
  const strength = new Uint8Array(regionWidth * (y1 - y0 + 1));
  const labels = paintLabels(components, x0, y0, regionWidth, y1 - y0 + 1);
  const isInk = new Uint8Array(strength.length);
  const strokeHistogram = new Int32Array(GREY_LEVELS);
  let strokePixels = 0;
  for (let y = y0, r = 0; y <= y1; y++) {
    const level = rowLevel[y]!;
    for (let x = x0, i = y * width + x0; x <= x1; x++, i++, r++) {
      const s = strengthOf(Math.fround(data[i]! - (level + columnLevel[x]!)), sign);
      strength[r] = s;
      const label = labels[r]!;
      if (label === 0) {
        isInk[r] = s >= edgeInk ? 1 : 0;
      } else if (keep[label]) {
        isInk[r] = 1;
        strokeHistogram[s]!++;
        strokePixels++;
      }
    }
  }
  const fullInk = Math.max(edgeInk + 1, histogramPercentile(strokeHistogram, strokePixels, FULL_INK_PERCENTILE));

  // Widen the box to take in the faint edges: only ink outside the box can widen it.
  for (let y = y0, r = 0; y <= y1; y++, r += regionWidth) {
    const inside = y >= top && y <= bottom;
    for (let x = x0; x <= x1; x++) {
      if (inside && x === left) x = right + 1;
      if (x > x1 || !isInk[r + x - x0]) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }

  const box: Box = { left, top, width: right - left + 1, height: bottom - top + 1 };
  const ink = new Uint8Array(box.width * box.height);
  // Strength scaled so fullInk (and above) is full ink.
  const scaled = new Uint8Array(GREY_LEVELS);
  for (let s = 0; s < GREY_LEVELS; s++) scaled[s] = Math.min(MAX_GREY, Math.round((MAX_GREY * s) / fullInk));
  for (let y = 0; y < box.height; y++) {
    const r0 = (top + y - y0) * regionWidth + left - x0;
    for (let x = 0; x < box.width; x++) {
      const r = r0 + x;
      if (isInk[r]) ink[y * box.width + x] = scaled[strength[r]!]!;
    }
  }
  return { polarity, background: Math.round(background.level), box, ink };
}

/** Pixels of a found shape's box that lie outside it: reached from the box edge without crossing solid ink. */
function outsideOf(found: LocatedInk): Uint8Array {
  const { ink } = found;
  const { width, height } = found.box;
  const outside = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  let depth = 0;
  const visit = (i: number) => {
    if (outside[i] || ink[i]! >= SOLID_INK) return;
    outside[i] = 1;
    stack[depth++] = i;
  };
  for (let x = 0; x < width; x++) {
    visit(x);
    visit((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    visit(y * width);
    visit(y * width + width - 1);
  }
  while (depth > 0) {
    const i = stack[--depth]!;
    const x = i % width;
    if (x > 0) visit(i - 1);
    if (x < width - 1) visit(i + 1);
    if (i >= width) visit(i - width);
    if (i < (height - 1) * width) visit(i + width);
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
  const boundary: PixelList = { items: new Int32Array(MIN_LIST), length: 0 };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (outside[i]) continue;
      inside++;
      if (found.ink[i]! >= SOLID_INK) solid++;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || outside[i - 1] || outside[i + 1] || outside[i - width] || outside[i + width];
      if (edge) pushPixel(boundary, i);
    }
  }
  if (solid < SHEET_MIN_SOLID * inside) return false;
  return inside >= SHEET_MIN_RECTANGULARITY * smallestRotatedRectangle(boundary, width, height);
}

/** cos and sin of each whole-degree rotation tried by smallestRotatedRectangle. */
const ROTATION_COS = Float64Array.from({ length: RIGHT_ANGLE_DEGREES }, (_, degrees) => Math.cos((degrees * Math.PI) / 180));
const ROTATION_SIN = Float64Array.from({ length: RIGHT_ANGLE_DEGREES }, (_, degrees) => Math.sin((degrees * Math.PI) / 180));

/**
 * Area of the smallest rectangle, at any whole-degree rotation, holding the
 * points (pixel indices in a width-wide grid, in scan order) as pixels. At
 * most MAX_HULL_POINTS of them are used, evenly spaced; of those, only each
 * row's leftmost and rightmost can be extreme along any direction (the
 * points between project between them), so only they are projected.
 */
function smallestRotatedRectangle(points: PixelList, width: number, height: number): number {
  const step = Math.max(1, Math.ceil(points.length / MAX_HULL_POINTS));
  const rowMin = new Int32Array(height).fill(-1);
  const rowMax = new Int32Array(height).fill(-1);
  for (let p = 0; p < points.length; p += step) {
    const i = points.items[p]!;
    const y = Math.floor(i / width);
    const x = i - y * width;
    if (rowMin[y] === -1 || x < rowMin[y]!) rowMin[y] = x;
    if (x > rowMax[y]!) rowMax[y] = x;
  }
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < height; y++) {
    if (rowMin[y] === -1) continue;
    xs.push(rowMin[y]!, rowMax[y]!);
    ys.push(y, y);
  }
  let best = Infinity;
  for (let degrees = 0; degrees < RIGHT_ANGLE_DEGREES; degrees++) {
    const cos = ROTATION_COS[degrees]!;
    const sin = ROTATION_SIN[degrees]!;
    let minU = Infinity;
    let maxU = -Infinity;
    let minV = Infinity;
    let maxV = -Infinity;
    for (let p = 0; p < xs.length; p++) {
      const x = xs[p]!;
      const y = ys[p]!;
      const u = x * cos + y * sin;
      const v = y * cos - x * sin;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    best = Math.min(best, (maxU - minU + 1) * (maxV - minV + 1));
  }
  return best;
}

/** 1 where a pixel is within `radius` (in x and in y) of a set pixel of `mask`: a square dilation, row pass then column pass. */
function nearMask(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const rows = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    const o = y * width;
    // Distance back to the last set pixel in this row, carried along.
    let last = -Infinity;
    for (let x = 0; x < width + radius; x++) {
      if (x < width && mask[o + x]) last = x;
      const target = x - radius;
      if (target >= 0 && x - last <= 2 * radius) rows[o + target] = 1;
    }
  }
  const out = new Uint8Array(mask.length);
  for (let x = 0; x < width; x++) {
    let last = -Infinity;
    for (let y = 0; y < height + radius; y++) {
      if (y < height && rows[y * width + x]) last = y;
      const target = y - radius;
      if (target >= 0 && y - last <= 2 * radius) out[target * width + x] = 1;
    }
  }
  return out;
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
  for (let y = 0; y < height; y++) {
    const from = (box.top + y) * image.width + box.left;
    data.set(image.data.subarray(from, from + width), y * width);
  }
  const near = nearMask(outside, width, height, SHEET_EDGE);
  const paper = new Uint8Array(width * height);
  for (let i = 0; i < paper.length; i++) paper[i] = near[i] ? 0 : 1;
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
