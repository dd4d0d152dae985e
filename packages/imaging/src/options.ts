/** Options of preprocessDigitImage / preprocessDigitImages / detectImageFormat, with their defaults. */
export interface PreprocessOptions {
  /**
   * Largest accepted input in bytes; longer inputs fail with IMAGE_TOO_LARGE
   * before any decoding. Default 10 MiB.
   */
  maxBytes: number;
  /**
   * Largest accepted width x height as the image header states it (sharp
   * `limitInputPixels`, checked before pixel data is decoded); larger images
   * fail with IMAGE_TOO_MANY_PIXELS. Stops decompression bombs and forged
   * headers. Default 40 megapixels (a 48 MP phone photo must be downscaled by
   * the client).
   */
  maxPixels: number;
  /** Decoding and resampling stop after this many seconds (sharp `timeout`) with IMAGE_TIMEOUT. Default 10. */
  timeoutSeconds: number;
  /**
   * The image is decoded straight to a copy whose longer side is at most this
   * many pixels, and the digit is located on that copy. Smaller is faster; the
   * digit must still span several pixels of it. Default 512.
   */
  workingSize: number;
  /**
   * Least difference from the background, on the 0-255 grey scale, that
   * counts as ink. An image with nothing this far from its background is
   * IMAGE_BLANK. Default 32.
   */
  minInkContrast: number;
  /** Images decoded at the same time by preprocessDigitImages. Default 2. */
  concurrency: number;
}

export const DEFAULT_PREPROCESS_OPTIONS: Readonly<PreprocessOptions> = Object.freeze({
  maxBytes: 10 * 1024 * 1024,
  maxPixels: 40_000_000,
  timeoutSeconds: 10,
  workingSize: 512,
  minInkContrast: 32,
  concurrency: 2,
});

const INTEGER_OPTIONS = ['maxBytes', 'maxPixels', 'timeoutSeconds', 'workingSize', 'concurrency'] as const;
/** A working copy smaller than this cannot hold a 20-pixel digit with a border around it. */
const MIN_WORKING_SIZE = 28;

/** Merges `options` over the defaults and rejects values that cannot work (a programming error, so RangeError). */
export function resolvePreprocessOptions(options: Partial<PreprocessOptions> = {}): PreprocessOptions {
  const resolved: PreprocessOptions = { ...DEFAULT_PREPROCESS_OPTIONS };
  for (const [key, value] of Object.entries(options) as [keyof PreprocessOptions, number | undefined][]) {
    if (value !== undefined) resolved[key] = value;
  }
  for (const key of INTEGER_OPTIONS) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`option ${key} must be a positive integer, got ${value}`);
  }
  if (resolved.workingSize < MIN_WORKING_SIZE) {
    throw new RangeError(`option workingSize must be at least ${MIN_WORKING_SIZE}, got ${resolved.workingSize}`);
  }
  if (!(resolved.minInkContrast > 0 && resolved.minInkContrast < 255)) {
    throw new RangeError(`option minInkContrast must be between 0 and 255 exclusive, got ${resolved.minInkContrast}`);
  }
  return resolved;
}
