import { describe, expect, it } from 'vitest';
import { IMAGE_FORMATS, detectImageFormat, flattenToLuma, imageErrorFromSharp } from './decode.ts';
import { ImageError, isImageError } from './errors.ts';
import { renderDigitImage } from './test-images.ts';

const LIMITS = { maxBytes: 1000, maxPixels: 1000 };

describe('detectImageFormat', () => {
  it.each(IMAGE_FORMATS)('recognises %s from the bytes', async (format) => {
    expect(await detectImageFormat(await renderDigitImage({ digit: 5, width: 64, height: 64, format }))).toBe(format);
  });

  it('rejects what is not an image', async () => {
    await expect(detectImageFormat(Buffer.from('GIF89a? no'))).rejects.toMatchObject({ code: 'IMAGE_CORRUPT' });
    await expect(detectImageFormat(Buffer.from('plain text'))).rejects.toMatchObject({ code: 'IMAGE_UNSUPPORTED_FORMAT' });
  });

  it('applies the byte limit before asking sharp', async () => {
    await expect(detectImageFormat(new Uint8Array(11), { maxBytes: 10 })).rejects.toMatchObject({ code: 'IMAGE_TOO_LARGE' });
  });
});

describe('imageErrorFromSharp', () => {
  it.each([
    ['Input buffer contains unsupported image format', 'IMAGE_UNSUPPORTED_FORMAT'],
    ['Input image exceeds pixel limit', 'IMAGE_TOO_MANY_PIXELS'],
    ['timeout: 12% complete', 'IMAGE_TIMEOUT'],
    ['Input Buffer is empty', 'IMAGE_EMPTY_INPUT'],
    ['VipsJpeg: premature end of JPEG image', 'IMAGE_CORRUPT'],
    ['vipspng: libpng read error', 'IMAGE_CORRUPT'],
  ] as const)('maps "%s" to %s and keeps the cause', (message, code) => {
    const cause = new Error(message);
    const error = imageErrorFromSharp(cause, new Uint8Array([1, 2]), LIMITS);
    expect(error).toBeInstanceOf(ImageError);
    expect(error.code).toBe(code);
    expect(error.cause).toBe(cause);
  });

  it('passes an ImageError through unchanged', () => {
    const original = new ImageError('IMAGE_BLANK', 'no digit');
    expect(imageErrorFromSharp(original, new Uint8Array(), LIMITS)).toBe(original);
  });
});

// Which HTTP status each code answers is the API's table: apps/api/src/http/status.test.ts.
describe('ImageError', () => {
  it('ImageError is recognisable after crossing module boundaries', () => {
    const error = new ImageError('IMAGE_CORRUPT', 'bad', { cause: new Error('x') });
    expect(isImageError(error)).toBe(true);
    expect(error.name).toBe('ImageError');
    expect(isImageError(new Error('x'))).toBe(false);
  });
});

describe('flattenToLuma', () => {
  /** The definition: BT.601 weights, rounded from single precision. */
  const luma = (r: number, g: number, b: number) => Math.round(Math.fround(0.299 * r + 0.587 * g + 0.114 * b));

  it('gives the rounded BT.601 luma of every R, G pair (at several B), RGB and RGBA, aligned or not', () => {
    const blues = [0, 1, 77, 128, 254, 255];
    const pixels = 256 * 256 * blues.length;
    const rgb = new Uint8Array(pixels * 3);
    const rgba = new Uint8Array(pixels * 4 + 1).subarray(1); // not 4-byte aligned
    const expected = new Uint8Array(pixels);
    let i = 0;
    for (const b of blues) {
      for (let g = 0; g < 256; g++) {
        for (let r = 0; r < 256; r++, i++) {
          rgb.set([r, g, b], 3 * i);
          rgba.set([r, g, b, 255], 4 * i);
          expected[i] = luma(r, g, b);
        }
      }
    }
    expect(flattenToLuma({ data: rgb, width: 256, height: pixels / 256, channels: 3 })).toEqual(expected);
    expect(flattenToLuma({ data: rgba, width: 256, height: pixels / 256, channels: 4 })).toEqual(expected);
    expect(flattenToLuma({ data: Uint8Array.from(rgba), width: 256, height: pixels / 256, channels: 4 })).toEqual(expected);
  });

  it('blends translucent pixels onto the background that contrasts with the content', () => {
    // Dark half-transparent strokes on a transparent canvas land on white; light ones on black.
    const dark = Uint8Array.from([20, 20, 20, 255, 20, 20, 20, 128, 0, 0, 0, 0]);
    expect([...flattenToLuma({ data: dark, width: 3, height: 1, channels: 4 })]).toEqual([20, Math.round((128 / 255) * 20 + (127 / 255) * 255), 255]);
    const light = Uint8Array.from([240, 255, 240, 128, 0, 0]);
    expect([...flattenToLuma({ data: light, width: 3, height: 1, channels: 2 })]).toEqual([240, Math.round((128 / 255) * 240), 0]);
  });
});
