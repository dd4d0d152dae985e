/**
 * One error type for everything a client can be told, with a string code and
 * one table from code to HTTP status (the shape of tRPC's TRPCError).
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  NO_IMAGE: 400,
  TOO_MANY_IMAGES: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  CONFLICT: 409,
  JOB_FINISHED: 409,
  IDEMPOTENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  /** Forged headers and decompression bombs: too many pixels to decode safely. */
  IMAGE_TOO_MANY_PIXELS: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IMAGE_UNSUPPORTED_FORMAT: 415,
  UNPROCESSABLE: 422,
  IMAGE_CORRUPT: 422,
  IMAGE_BLANK: 422,
  IMAGE_EMPTY_INPUT: 422,
  IMAGE_TIMEOUT: 422,
  BAD_INPUT: 422,
  WEBHOOK_URL_REFUSED: 422,
  RATE_LIMITED: 429,
  QUEUE_FULL: 429,
  INTERNAL: 500,
  QUEUE_UNAVAILABLE: 503,
  /** The server cannot take this request now (e.g. too many request bodies in flight); retry after Retry-After. */
  SERVICE_UNAVAILABLE: 503,
  NOT_READY: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { status?: number; headers?: Record<string, string>; body?: Record<string, unknown> } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }

  get status(): number {
    return this.details.status ?? ERROR_STATUS[this.code];
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}
