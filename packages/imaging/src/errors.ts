/**
 * Every way an upload can fail to become a model input. The API answers an
 * ImageError with the HTTP status of its code (apps/api/src/http/status.ts);
 * the worker turns it into a job failure that is not retried (the bytes will
 * not get better).
 */

export const IMAGE_ERROR_CODES = [
  /** Zero bytes. */
  'IMAGE_EMPTY_INPUT',
  /** More bytes than `maxBytes`. */
  'IMAGE_TOO_LARGE',
  /** width x height (as the header claims) above `maxPixels`: decompression bombs and forged headers. */
  'IMAGE_TOO_MANY_PIXELS',
  /** Not an image, or a format we do not accept (SVG, PDF, BMP, HEIC, ...). */
  'IMAGE_UNSUPPORTED_FORMAT',
  /** A supported format whose data is truncated or invalid. */
  'IMAGE_CORRUPT',
  /** Decoding took longer than `timeoutSeconds`. */
  'IMAGE_TIMEOUT',
  /** Decoded, but nothing stands out from the background: there is no digit to classify. */
  'IMAGE_BLANK',
] as const;

export type ImageErrorCode = (typeof IMAGE_ERROR_CODES)[number];

export class ImageError extends Error {
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImageError';
  }
}

export function isImageError(error: unknown): error is ImageError {
  return error instanceof ImageError;
}
