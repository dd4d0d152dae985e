import { describe, expect, it } from 'vitest';
import { IMAGE_FORMATS, detectImageFormat, imageErrorFromSharp } from './decode.ts';
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
