/**
 * "Why this digit": occlusion sensitivity (Zeiler & Fergus, 2014). Square
 * patches of the 28x28 input are hidden (set to background) one at a time;
 * a pixel matters as much as hiding the patches over it lowers the predicted
 * digit's probability. It needs only forward passes, so it works with any
 * engine (tfjs or ONNX Runtime): every occluded copy goes through the model
 * as one batch.
 */
import { DIGIT_SIDE, PIXELS_PER_IMAGE, packModelBatch } from '@digitq/contracts';
import { classifyBatch, type InferenceEngine } from '@digitq/model';

export interface OcclusionOptions {
  /** Side of the hidden square, in pixels. Default 4: about a stroke's width on MNIST's scale. */
  patch: number;
  /** Step between patches. Default 2: every pixel is covered by several patches, so the map is smooth. */
  stride: number;
  /** What a hidden pixel becomes. Default 0: background. */
  fill: number;
}

export const OCCLUSION_DEFAULTS: OcclusionOptions = { patch: 4, stride: 2, fill: 0 };

/** Top-left corners of the patches along one side (the last one flush with the edge). */
function patchStarts(patch: number, stride: number): number[] {
  const starts: number[] = [];
  for (let at = 0; at + patch <= DIGIT_SIDE; at += stride) starts.push(at);
  const last = DIGIT_SIDE - patch;
  if (starts.at(-1) !== last) starts.push(last);
  return starts;
}

/**
 * Per pixel of `pixels` (784 bytes), the mean drop in `digit`'s probability
 * over the patches covering it, drops below zero counted as zero, scaled so
 * the largest is 1 (all zeros when nothing hidden lowered it).
 */
export async function occlusionMap(engine: InferenceEngine, pixels: Uint8Array, digit: number, options: Partial<OcclusionOptions> = {}): Promise<number[]> {
  const { patch, stride, fill } = { ...OCCLUSION_DEFAULTS, ...options };
  const starts = patchStarts(patch, stride);
  const corners = starts.flatMap((y) => starts.map((x) => ({ x, y })));
  const variants = [pixels, ...corners.map(({ x, y }) => {
    const hidden = Uint8Array.from(pixels);
    for (let row = y; row < y + patch; row++) hidden.fill(fill, row * DIGIT_SIDE + x, row * DIGIT_SIDE + x + patch);
    return hidden;
  })];
  const [original, ...occluded] = await classifyBatch(engine, packModelBatch(variants));
  const base = original!.probabilities[digit]!;
  const sum = new Float64Array(PIXELS_PER_IMAGE);
  const covered = new Uint16Array(PIXELS_PER_IMAGE);
  corners.forEach(({ x, y }, i) => {
    const drop = Math.max(0, base - occluded[i]!.probabilities[digit]!);
    for (let row = y; row < y + patch; row++) {
      for (let col = x; col < x + patch; col++) {
        sum[row * DIGIT_SIDE + col]! += drop;
        covered[row * DIGIT_SIDE + col]! += 1;
      }
    }
  });
  const mean = Array.from(sum, (total, i) => (covered[i]! > 0 ? total / covered[i]! : 0));
  const max = Math.max(...mean);
  return max > 0 ? mean.map((value) => value / max) : mean;
}
