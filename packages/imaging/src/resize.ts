/**
 * Resampling of 8-bit grey images in JS, computed the way sharp's
 * `resize({ width, height, fit: 'fill', kernel: 'lanczos3' })` computes it
 * with the libvips it ships (8.18, vips_resize with its default gap of 2), so
 * the crop of a digit can be scaled to the 20-px box without another sharp
 * round trip and with the same pixels:
 *
 * - shrinking an axis: a box average by the integer part of the factor
 *   that leaves at least 2x (vips_shrinkv/h), then Lanczos-3 for the rest
 *   (vips_reducev/h), vertical first, each rounded to 8 bits;
 * - enlarging an axis: Catmull-Rom bicubic interpolation (vips_affine with
 *   the bicubic interpolator, which is what vips_resize uses to upsize
 *   whatever the kernel), sampling output pixel x at input x / scale - 0.5.
 *
 * Fixed-point coefficients (12 bits), phase tables (64 steps) and edge
 * handling (edge pixels repeated) follow libvips, so results agree with
 * sharp's to within a grey level; reference-pixels.test.ts holds the whole
 * pipeline to the sharp-based one.
 */
import type { GreyImage } from './decode.ts';

const MAX_GREY = 255;
/** libvips' reduce gap: integer box shrinking stops while at least this much reduction is left. */
const REDUCE_GAP = 2;
/** Lanczos-3 kernel radius in input pixels at a reduction of 1. */
const LANCZOS_RADIUS = 3;
/** Sub-pixel phases per pixel in the coefficient tables (VIPS_TRANSFORM_SCALE). */
const PHASES = 64;
/** Fixed-point coefficient bits (VIPS_INTERPOLATE_SHIFT). */
const COEFFICIENT_SHIFT = 12;
const COEFFICIENT_SCALE = 1 << COEFFICIENT_SHIFT;
const COEFFICIENT_HALF = COEFFICIENT_SCALE >> 1;
/** Box-average fixed point (libvips' shrink): (sum + n/2) * floor(2^32 / (256 n)) >> 24. */
const BOX_NUMERATOR = 2 ** 32 / 256;
const BOX_DIVISOR = 2 ** 24;
/** Bicubic window: one pixel before, two after; vips_affine pads one more pixel on each side. */
const BICUBIC_TAPS = 4;
/** vips_resize's input displacement when upsizing (centre sampling in libvips 8.18). */
const UPSIZE_INPUT_OFFSET = 0.5;

/** C's rint: round half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

function lanczos3(x: number): number {
  return x >= -LANCZOS_RADIUS && x <= LANCZOS_RADIUS ? sinc(x) * sinc(x / LANCZOS_RADIUS) : 0;
}

/**
 * Fixed-point Lanczos-3 mask of `points` taps for sub-pixel position
 * phase / PHASES, normalised to sum 1 before truncation (libvips'
 * vips_reduce_make_mask, then (short)(c * 4096)), written to table at phase * points.
 */
function lanczosMask(table: Int32Array, phase: number, points: number, shrink: number): void {
  const half = phase / PHASES + points / 2 - 1;
  const mask = new Float64Array(points);
  let sum = 0;
  for (let i = 0; i < points; i++) {
    mask[i] = lanczos3((i - half) / shrink);
    sum += mask[i]!;
  }
  for (let i = 0; i < points; i++) table[phase * points + i] = Math.trunc((mask[i]! / sum) * COEFFICIENT_SCALE);
}

/** The masks of the phases in `phases` (only those: each costs `points` sines), indexed phase * points + tap. */
function lanczosTable(phases: Int32Array, points: number, shrink: number): Int32Array {
  const table = new Int32Array((PHASES + 1) * points);
  const done = new Uint8Array(PHASES + 1);
  for (const phase of phases) {
    if (done[phase]) continue;
    done[phase] = 1;
    lanczosMask(table, phase, points, shrink);
  }
  return table;
}

/** Fixed-point Catmull-Rom coefficients (libvips' calculate_coefficients_catmull, then (int)(c * 4096)). */
function catmullRomTable(): Int32Array {
  const table = new Int32Array((PHASES + 1) * BICUBIC_TAPS);
  for (let phase = 0; phase <= PHASES; phase++) {
    const x = phase / PHASES;
    const cr1 = 1 - x;
    const cr2 = -0.5 * x;
    const cr3 = cr1 * cr2;
    const cone = cr1 * cr3;
    const cfou = x * cr3;
    const cr4 = cfou - cone;
    const o = phase * BICUBIC_TAPS;
    table[o] = Math.trunc(cone * COEFFICIENT_SCALE);
    table[o + 1] = Math.trunc((cr1 - cone + cr4) * COEFFICIENT_SCALE);
    table[o + 2] = Math.trunc((x - cfou - cr4) * COEFFICIENT_SCALE);
    table[o + 3] = Math.trunc(cfou * COEFFICIENT_SCALE);
  }
  return table;
}

/** The table phase of a sampling position: its fraction rounded to 1/PHASES (libvips' (((int)(x * 128) & 127) + 1) >> 1). */
function phaseOf(position: number): number {
  return (((Math.trunc(position * PHASES * 2) & (PHASES * 2 - 1)) + 1) >> 1);
}

function clampGrey(fixed: number): number {
  const v = (fixed + COEFFICIENT_HALF) >> COEFFICIENT_SHIFT;
  return v < 0 ? 0 : v > MAX_GREY ? MAX_GREY : v;
}

/** Box average over `factor` rows (vips_shrinkv with ceil: the last rows repeated to fill the last group). */
function shrinkRows(image: GreyImage, factor: number): GreyImage {
  const { data, width, height } = image;
  const outHeight = Math.ceil(height / factor);
  const out = new Uint8Array(width * outHeight);
  const sums = new Uint32Array(width);
  const amend = factor >> 1;
  const multiplier = Math.floor(BOX_NUMERATOR / factor);
  for (let y = 0; y < outHeight; y++) {
    sums.fill(0);
    for (let k = 0; k < factor; k++) {
      const row = Math.min(height - 1, y * factor + k) * width;
      for (let x = 0; x < width; x++) sums[x]! += data[row + x]!;
    }
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = Math.floor(((sums[x]! + amend) * multiplier) / BOX_DIVISOR);
  }
  return { data: out, width, height: outHeight };
}

/** Box average over `factor` columns (vips_shrinkh with ceil). */
function shrinkColumns(image: GreyImage, factor: number): GreyImage {
  const { data, width, height } = image;
  const outWidth = Math.ceil(width / factor);
  const out = new Uint8Array(outWidth * height);
  const amend = factor >> 1;
  const multiplier = Math.floor(BOX_NUMERATOR / factor);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < outWidth; x++) {
      let sum = amend;
      for (let k = 0; k < factor; k++) sum += data[row + Math.min(width - 1, x * factor + k)]!;
      out[y * outWidth + x] = Math.floor((sum * multiplier) / BOX_DIVISOR);
    }
  }
  return { data: out, width: outWidth, height };
}

/** How a 1-D Lanczos-3 reduction from `size` by `shrink` is carried out (vips_reducev/h's build). */
interface ReducePlan {
  outSize: number;
  /** Box shrink done first (1 = none). */
  boxFactor: number;
  residual: number;
  points: number;
  offset: number;
}

function planReduce(size: number, shrink: number): ReducePlan {
  const outSize = Math.floor(size / shrink + 0.5);
  let extra = outSize * shrink - size;
  let residual = shrink;
  const boxFactor = Math.max(1, Math.floor(size / outSize / REDUCE_GAP));
  if (boxFactor > 1) {
    extra /= boxFactor;
    residual /= boxFactor;
  }
  const points = 2 * roundHalfEven(LANCZOS_RADIUS * residual) + 1;
  return { outSize, boxFactor, residual, points, offset: (1 + extra) / 2 - 1 };
}

/**
 * Per output index: the first input index of its window (edge-clamped
 * later) and its phase, as libvips walks them (position += residual).
 */
function reduceWindows(plan: ReducePlan): { starts: Int32Array; phases: Int32Array } {
  const starts = new Int32Array(plan.outSize);
  const phases = new Int32Array(plan.outSize);
  // Window indices in libvips' padded input, whose first ceil(points / 2) - 1 pixels repeat the edge.
  const pad = Math.ceil(plan.points / 2) - 1;
  let position = 0.5 * plan.residual - 0.5 - plan.offset;
  for (let i = 0; i < plan.outSize; i++) {
    starts[i] = Math.trunc(position) - pad;
    phases[i] = phaseOf(position);
    position += plan.residual;
  }
  return { starts, phases };
}

function reduceRows(image: GreyImage, shrink: number): GreyImage {
  const plan = planReduce(image.height, shrink);
  const source = plan.boxFactor > 1 ? shrinkRows(image, plan.boxFactor) : image;
  if (plan.residual === 1) return source;
  const { data, width, height } = source;
  const { points } = plan;
  const { starts, phases } = reduceWindows(plan);
  const table = lanczosTable(phases, points, plan.residual);
  const out = new Uint8Array(width * plan.outSize);
  const sums = new Int32Array(width);
  for (let y = 0; y < plan.outSize; y++) {
    sums.fill(0);
    const t = phases[y]! * points;
    for (let i = 0; i < points; i++) {
      const row = Math.min(height - 1, Math.max(0, starts[y]! + i)) * width;
      const c = table[t + i]!;
      for (let x = 0; x < width; x++) sums[x]! += c * data[row + x]!;
    }
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = clampGrey(sums[x]!);
  }
  return { data: out, width, height: plan.outSize };
}

function reduceColumns(image: GreyImage, shrink: number): GreyImage {
  const plan = planReduce(image.width, shrink);
  const source = plan.boxFactor > 1 ? shrinkColumns(image, plan.boxFactor) : image;
  if (plan.residual === 1) return source;
  const { data, width, height } = source;
  const { points, outSize } = plan;
  const { starts, phases } = reduceWindows(plan);
  const table = lanczosTable(phases, points, plan.residual);
  const out = new Uint8Array(outSize * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < outSize; x++) {
      const t = phases[x]! * points;
      const start = starts[x]!;
      let sum = 0;
      for (let i = 0; i < points; i++) sum += table[t + i]! * data[row + Math.min(width - 1, Math.max(0, start + i))]!;
      out[y * outSize + x] = clampGrey(sum);
    }
  }
  return { data: out, width: outSize, height };
}

/**
 * Per output index of an upsize axis: its bicubic window's first input index
 * (edge-clamped later) and phase. libvips steps along a row (x) by adding
 * the inverse scale, and computes each row's y afresh.
 */
function bicubicWindows(outSize: number, step: number, stepped: boolean): { starts: Int32Array; phases: Int32Array } {
  const starts = new Int32Array(outSize);
  const phases = new Int32Array(outSize);
  // Position in libvips' padded input (2 pixels of edge on each side): input offset 0.5 - 1, window offset 1.
  const at = (i: number) => step * i - (UPSIZE_INPUT_OFFSET - 1) + 1;
  let position = at(0);
  for (let i = 0; i < outSize; i++) {
    if (!stepped) position = at(i);
    starts[i] = Math.trunc(position) - 1 - 2;
    phases[i] = phaseOf(position);
    if (stepped) position += step;
  }
  return { starts, phases };
}

/** vips_affine(hscale, 0, 0, vscale) with the bicubic interpolator, 8-bit fixed point, edges repeated. */
function upsize(image: GreyImage, hscale: number, vscale: number): GreyImage {
  const { data, width, height } = image;
  const outWidth = Math.floor(width * hscale + 0.5);
  const outHeight = Math.floor(height * vscale + 0.5);
  const table = catmullRomTable();
  // The inverse transform's steps, computed as libvips inverts the matrix.
  const inverseDeterminant = 1 / (hscale * vscale);
  const columns = bicubicWindows(outWidth, inverseDeterminant * vscale, true);
  const rows = bicubicWindows(outHeight, inverseDeterminant * hscale, false);
  const out = new Uint8Array(outWidth * outHeight);
  const rowSums = new Int32Array(BICUBIC_TAPS);
  for (let y = 0; y < outHeight; y++) {
    const ty = rows.phases[y]! * BICUBIC_TAPS;
    for (let x = 0; x < outWidth; x++) {
      const tx = columns.phases[x]! * BICUBIC_TAPS;
      const x0 = columns.starts[x]!;
      for (let j = 0; j < BICUBIC_TAPS; j++) {
        const row = Math.min(height - 1, Math.max(0, rows.starts[y]! + j)) * width;
        let sum = 0;
        for (let i = 0; i < BICUBIC_TAPS; i++) sum += table[tx + i]! * data[row + Math.min(width - 1, Math.max(0, x0 + i))]!;
        rowSums[j] = (sum + COEFFICIENT_HALF) >> COEFFICIENT_SHIFT;
      }
      let sum = 0;
      for (let j = 0; j < BICUBIC_TAPS; j++) sum += table[ty + j]! * rowSums[j]!;
      out[y * outWidth + x] = clampGrey(sum);
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}

/** Resamples a grey image to exactly width x height, as sharp's Lanczos-3 `fit: 'fill'` resize does. */
export function resizeGrey(image: GreyImage, width: number, height: number): GreyImage {
  // sharp: shrink = in / target, handed to vips_resize as scale = 1 / shrink.
  let hscale = 1 / (image.width / width);
  let vscale = 1 / (image.height / height);
  hscale = Math.max(hscale, 1 / image.width);
  vscale = Math.max(vscale, 1 / image.height);
  let out = image;
  if (vscale < 1) out = reduceRows(out, 1 / vscale);
  if (hscale < 1) out = reduceColumns(out, 1 / hscale);
  if (hscale > 1 || vscale > 1) out = upsize(out, Math.max(hscale, 1), Math.max(vscale, 1));
  return out;
}
