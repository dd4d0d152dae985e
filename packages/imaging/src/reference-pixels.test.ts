/**
 * Today's output against the frozen reference (fixtures/reference-cases.ts):
 * speed work must not change what the model sees by more than a mean of
 * 1/255 per pixel on any fixture, nor where the digit was found.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError } from './errors.ts';
import { FRAME_PIXELS } from './frame.ts';
import { preprocessDigitImage } from './preprocess.ts';
import { REFERENCE_CASES } from './fixtures/reference-cases.ts';
import { readReferenceFile, type ReferenceEntry, type ReferenceFile } from './fixtures/reference-file.ts';

const MAX_MEAN_ABS_DIFF = 1 / 255;
/** The ink box may move by a pixel of the original image per working-image pixel of rounding. */
const MAX_INK_BOX_SHIFT_FRACTION = 0.02;

let reference: ReferenceFile;
const mads: number[] = [];

beforeAll(async () => {
  reference = await readReferenceFile();
});

afterAll(() => {
  if (mads.length > 0) process.stdout.write(`reference pixels: max mean abs diff ${(255 * Math.max(...mads)).toFixed(3)}/255 over ${mads.length} images\n`);
});

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

describe('preprocessDigitImage against the reference pixels', () => {
  it('has a reference for every case, rendered by the same sharp', () => {
    expect(reference.cases.map((c) => c.name)).toEqual(REFERENCE_CASES.map((c) => c.name));
    expect(
      { sharp: sharp.versions.sharp, vips: sharp.versions.vips },
      'another sharp/libvips renders the fixtures (and resizes) differently: check the output by eye, then regenerate (fixtures/reference-cases.ts)',
    ).toEqual({ sharp: reference.sharp, vips: reference.vips });
  });

  it.each(REFERENCE_CASES.map((c, i) => [c.name, i] as const))('%s', async (_, index) => {
    const { make, options } = REFERENCE_CASES[index]!;
    const expected = reference.cases[index] as ReferenceEntry;
    const bytes = await make();
    if ('error' in expected) {
      const error = await preprocessDigitImage(bytes, options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageError);
      expect((error as ImageError).code).toBe(expected.error);
      return;
    }
    const digit = await preprocessDigitImage(bytes, options);
    expect({ format: digit.format, width: digit.width, height: digit.height, polarity: digit.polarity }).toEqual({
      format: expected.format,
      width: expected.width,
      height: expected.height,
      polarity: expected.polarity,
    });
    const slack = Math.max(1, Math.ceil(MAX_INK_BOX_SHIFT_FRACTION * Math.max(expected.width, expected.height)));
    for (const side of ['left', 'top', 'width', 'height'] as const) {
      expect(Math.abs(digit.inkBox[side] - expected.inkBox[side]), side).toBeLessThanOrEqual(slack);
    }
    expect(digit.pixels).toHaveLength(FRAME_PIXELS);
    expect(digit.pixelBytes).toEqual(Uint8Array.from(digit.pixels, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
    const mad = meanAbsDiff(digit.pixels, expected.pixels);
    mads.push(mad);
    expect(mad).toBeLessThanOrEqual(MAX_MEAN_ABS_DIFF);
  });
});
