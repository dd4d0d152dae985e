/**
 * The paper (or board) behind the digit, estimated from the image's border
 * ring, where ink rarely is (or from pixels known to be paper). Phone photos are lit unevenly, so the estimate
 * is a plane (level plus a slope across each axis) fitted by least squares
 * with outliers (ink touching the border, glare) trimmed, not one grey level.
 * A plane is too stiff to follow a stroke, so thick strokes never become
 * "background".
 */
import type { GreyImage } from './decode.ts';

export interface BackgroundPlane {
  /** Grey level at the image centre. */
  level: number;
  /** Change of grey level from the left edge to the right edge, and from top to bottom. */
  slopeX: number;
  slopeY: number;
  /** Standard deviation of the paper around the plane (texture, sensor and JPEG noise), in grey levels. */
  noise: number;
}

/** Width of the border ring that samples the background, as a fraction of the shorter side (at least 1 px). */
const BORDER_RING_FRACTION = 0.03;
/** Scales a median absolute deviation to a standard deviation for Gaussian noise. */
const MAD_TO_SIGMA = 1.4826;
/** Ring pixels further than this many standard deviations from the plane are not paper. */
const OUTLIER_SIGMAS = 3;
/** ... but pixels this close always are (a clean synthetic image has zero noise). */
const MIN_OUTLIER_LEVELS = 4;
const FIT_ROUNDS = 4;
/** The fit uses at most this many ring pixels, evenly spaced along the ring (plenty for three parameters). */
const MAX_SAMPLES = 2048;
const SINGULAR = 1e-9;

/** Horizontal position in [-0.5, 0.5] of pixel column x (its centre). */
export function planeX(x: number, width: number): number {
  return (x + 0.5) / width - 0.5;
}

export function planeY(y: number, height: number): number {
  return (y + 0.5) / height - 0.5;
}

/** The plane's grey level at pixel (x, y) of a width x height image. */
export function backgroundAt(plane: BackgroundPlane, x: number, y: number, width: number, height: number): number {
  return plane.level + plane.slopeX * planeX(x, width) + plane.slopeY * planeY(y, height);
}

/** The k-th smallest of values[0..n) (0-based), rearranging them (Hoare's selection). */
function select(values: Float64Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  while (left < right) {
    const pivot = values[(left + right) >> 1]!;
    let i = left;
    let j = right;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const t = values[i]!;
        values[i++] = values[j]!;
        values[j--] = t;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return values[k]!;
  }
  return values[k]!;
}

/** Median of values[0..n), rearranging them; 0 when n is 0. */
function medianInPlace(values: Float64Array, n: number): number {
  if (n === 0) return 0;
  const mid = n >> 1;
  const upper = select(values, n, mid);
  if (n % 2) return upper;
  // After selecting `mid`, everything before it is no larger: the lower middle is their maximum.
  let lower = values[0]!;
  for (let i = 1; i < mid; i++) if (values[i]! > lower) lower = values[i]!;
  return (lower + upper) / 2;
}

/** Solves the 3x3 system m * s = r (row-major m) by Cramer's rule; null when singular. */
function solve3(m: readonly number[], r: readonly number[]): [number, number, number] | null {
  const det = (a: readonly number[]) =>
    a[0]! * (a[4]! * a[8]! - a[5]! * a[7]!) - a[1]! * (a[3]! * a[8]! - a[5]! * a[6]!) + a[2]! * (a[3]! * a[7]! - a[4]! * a[6]!);
  const d = det(m);
  if (Math.abs(d) < SINGULAR) return null;
  const column = (c: number) => m.map((v, i) => (i % 3 === c ? r[Math.floor(i / 3)]! : v));
  return [det(column(0)) / d, det(column(1)) / d, det(column(2)) / d];
}

/** Ring (or paper) pixels, every stride-th in scan order: plane coordinates and grey levels. */
interface Samples {
  xs: Float64Array;
  ys: Float64Array;
  zs: Float64Array;
  n: number;
}

function sampleBackground({ data, width, height }: GreyImage, paper: Uint8Array | undefined): Samples {
  const ring = Math.max(1, Math.round(Math.min(width, height) * BORDER_RING_FRACTION));
  const inner = Math.max(0, width - 2 * ring) * Math.max(0, height - 2 * ring);
  let candidates = width * height - inner;
  if (paper) {
    candidates = 0;
    for (let i = 0; i < paper.length; i++) if (paper[i]) candidates++;
  }
  const stride = Math.max(1, Math.ceil(candidates / MAX_SAMPLES));
  const capacity = Math.ceil(candidates / stride);
  const xs = new Float64Array(capacity);
  const ys = new Float64Array(capacity);
  const zs = new Float64Array(capacity);
  const columnX = new Float64Array(width);
  for (let x = 0; x < width; x++) columnX[x] = planeX(x, width);
  let n = 0;
  // Countdown to the next sample: every stride-th candidate in scan order, starting with the first.
  let skip = 0;
  const takeRun = (y: number, from: number, to: number) => {
    const rowY = planeY(y, height);
    const o = y * width;
    if (paper) {
      for (let x = from; x < to; x++) {
        if (!paper[o + x]) continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        skip = stride - 1;
        xs[n] = columnX[x]!;
        ys[n] = rowY;
        zs[n++] = data[o + x]!;
      }
      return;
    }
    // Every pixel of the run is a candidate: jump from sample to sample.
    let x = from + skip;
    for (; x < to; x += stride) {
      xs[n] = columnX[x]!;
      ys[n] = rowY;
      zs[n++] = data[o + x]!;
    }
    skip = x - to;
  };
  for (let y = 0; y < height; y++) {
    if (paper || y < ring || y >= height - ring) {
      takeRun(y, 0, width);
    } else {
      takeRun(y, 0, Math.min(ring, width));
      takeRun(y, Math.max(ring, width - ring), width);
    }
  }
  return { xs, ys, zs, n };
}

/**
 * Fits the background plane to the image's border ring, or, when `paper` is
 * given, to the pixels it marks (non-zero).
 */
export function fitBackground(image: GreyImage, paper?: Uint8Array): BackgroundPlane {
  const { xs, ys, zs, n } = sampleBackground(image, paper);
  const residuals = new Float64Array(n);
  const scratch = new Float64Array(n);
  scratch.set(zs.subarray(0, n));
  let level = medianInPlace(scratch, n);
  let slopeX = 0;
  let slopeY = 0;
  let noise = 0;
  for (let round = 0; round < FIT_ROUNDS; round++) {
    for (let i = 0; i < n; i++) {
      residuals[i] = zs[i]! - (level + slopeX * xs[i]! + slopeY * ys[i]!);
      scratch[i] = Math.abs(residuals[i]!);
    }
    const spread = MAD_TO_SIGMA * medianInPlace(scratch, n);
    const limit = Math.max(OUTLIER_SIGMAS * spread, MIN_OUTLIER_LEVELS);
    let s1 = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sz = 0, sxz = 0, syz = 0;
    let inliers = 0;
    for (let i = 0; i < n; i++) {
      const residual = Math.abs(residuals[i]!);
      if (residual > limit) continue;
      const x = xs[i]!;
      const y = ys[i]!;
      const z = zs[i]!;
      s1++;
      sx += x;
      sy += y;
      sxx += x * x;
      syy += y * y;
      sxy += x * y;
      sz += z;
      sxz += x * z;
      syz += y * z;
      scratch[inliers++] = residual;
    }
    noise = MAD_TO_SIGMA * medianInPlace(scratch, inliers);
    const next = solve3([s1, sx, sy, sx, sxx, sxy, sy, sxy, syy], [sz, sxz, syz]);
    if (!next) break;
    [level, slopeX, slopeY] = next;
  }
  return { level, slopeX, slopeY, noise };
}
