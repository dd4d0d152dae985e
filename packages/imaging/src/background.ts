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

function median(values: Float64Array): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Solves the 3x3 system m * s = r (row-major m) by Cramer's rule; null when singular. */
function solve3(m: number[], r: number[]): [number, number, number] | null {
  const det = (a: number[]) =>
    a[0]! * (a[4]! * a[8]! - a[5]! * a[7]!) - a[1]! * (a[3]! * a[8]! - a[5]! * a[6]!) + a[2]! * (a[3]! * a[7]! - a[4]! * a[6]!);
  const d = det(m);
  if (Math.abs(d) < SINGULAR) return null;
  const column = (c: number) => m.map((v, i) => (i % 3 === c ? r[Math.floor(i / 3)]! : v));
  return [det(column(0)) / d, det(column(1)) / d, det(column(2)) / d];
}

/**
 * Fits the background plane to the image's border ring, or, when `paper` is
 * given, to the pixels it marks (non-zero).
 */
export function fitBackground(image: GreyImage, paper?: Uint8Array): BackgroundPlane {
  const { data, width, height } = image;
  const ring = Math.max(1, Math.round(Math.min(width, height) * BORDER_RING_FRACTION));
  const inner = Math.max(0, width - 2 * ring) * Math.max(0, height - 2 * ring);
  const candidates = paper ? paper.reduce((n, v) => n + (v ? 1 : 0), 0) : width * height - inner;
  const stride = Math.max(1, Math.ceil(candidates / MAX_SAMPLES));
  const xs: number[] = [];
  const ys: number[] = [];
  const zs: number[] = [];
  let seen = 0;
  const sample = (x: number, y: number) => {
    if (seen++ % stride !== 0) return;
    xs.push(planeX(x, width));
    ys.push(planeY(y, height));
    zs.push(data[y * width + x]!);
  };
  for (let y = 0; y < height; y++) {
    if (paper) {
      for (let x = 0; x < width; x++) if (paper[y * width + x]) sample(x, y);
    } else if (y < ring || y >= height - ring) {
      for (let x = 0; x < width; x++) sample(x, y);
    } else {
      for (let x = 0; x < Math.min(ring, width); x++) sample(x, y);
      for (let x = Math.max(ring, width - ring); x < width; x++) sample(x, y);
    }
  }
  const n = zs.length;
  const residuals = new Float64Array(n);
  let plane: [number, number, number] = [median(Float64Array.from(zs)), 0, 0];
  let noise = 0;
  for (let round = 0; round < FIT_ROUNDS; round++) {
    for (let i = 0; i < n; i++) residuals[i] = zs[i]! - (plane[0] + plane[1] * xs[i]! + plane[2] * ys[i]!);
    const spread = MAD_TO_SIGMA * median(residuals.map(Math.abs));
    const limit = Math.max(OUTLIER_SIGMAS * spread, MIN_OUTLIER_LEVELS);
    let s1 = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sz = 0, sxz = 0, syz = 0;
    const inlierResiduals: number[] = [];
    for (let i = 0; i < n; i++) {
      if (Math.abs(residuals[i]!) > limit) continue;
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
      inlierResiduals.push(residuals[i]!);
    }
    noise = MAD_TO_SIGMA * median(Float64Array.from(inlierResiduals, Math.abs));
    const next = solve3([s1, sx, sy, sx, sxx, sxy, sy, sxy, syy], [sz, sxz, syz]);
    if (!next) break;
    plane = next;
  }
  return { level: plane[0], slopeX: plane[1], slopeY: plane[2], noise };
}
