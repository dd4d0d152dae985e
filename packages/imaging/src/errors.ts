/**
 * Every way an upload can fail to become a model input. The API turns an
 * ImageError into an HTTP answer with imageErrorHttpStatus; the worker turns
 * it into a job failure that is not retried (the bytes will not get better).
 */

export const IMAGE_ERROR_HTTP_STATUS = {
  /** Zero bytes. */
  IMAGE_EMPTY_INPUT: 422,
  /** More bytes than `maxBytes`. */
  IMAGE_TOO_LARGE: 413,
  /** width x height (as the header claims) above `maxPixels`: decompression bombs and forged headers. */
  IMAGE_TOO_MANY_PIXELS: 413,
  /** Not an image, or a format we do not accept (SVG, PDF, BMP, HEIC, ...). */
  IMAGE_UNSUPPORTED_FORMAT: 415,
  /** A supported format whose data is truncated or invalid. */
  IMAGE_CORRUPT: 422,
  /** Decoding took longer than `timeoutSeconds`. */
  IMAGE_TIMEOUT: 422,
  /** Decoded, but nothing stands out from the background: there is no digit to classify. */
  IMAGE_BLANK: 422,
} as const satisfies Record<string, number>;

export type ImageErrorCode = keyof typeof IMAGE_ERROR_HTTP_STATUS;

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

/** The HTTP status an API should answer for an image error code (413, 415 or 422). */
export function imageErrorHttpStatus(code: ImageErrorCode): number {
  return IMAGE_ERROR_HTTP_STATUS[code];
}
