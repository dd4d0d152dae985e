/**
 * One error type for everything a client can be told: a string code, a
 * message and typed details (the shape of tRPC's TRPCError). Which HTTP
 * status a code answers is the API's business alone (one table,
 * apps/api/src/http/status.ts).
 */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'NO_IMAGE',
  'TOO_MANY_IMAGES',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'JOB_NOT_FOUND',
  'FEEDBACK_NOT_FOUND',
  'MODEL_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'CONFLICT',
  'JOB_FINISHED',
  /** A correction of a job that has not succeeded (it has no answer to correct). */
  'JOB_NOT_SUCCEEDED',
  'IDEMPOTENCY_CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'IMAGE_TOO_LARGE',
  /** Forged headers and decompression bombs: too many pixels to decode safely. */
  'IMAGE_TOO_MANY_PIXELS',
  'UNSUPPORTED_MEDIA_TYPE',
  'IMAGE_UNSUPPORTED_FORMAT',
  'UNPROCESSABLE',
  /** An image index beyond the job's images. */
  'INDEX_OUT_OF_RANGE',
  'IMAGE_CORRUPT',
  'IMAGE_BLANK',
  'IMAGE_EMPTY_INPUT',
  'IMAGE_TIMEOUT',
  'BAD_INPUT',
  'WEBHOOK_URL_REFUSED',
  'RATE_LIMITED',
  'QUEUE_FULL',
  'INTERNAL',
  'QUEUE_UNAVAILABLE',
  /** The server cannot take this request now (e.g. too many request bodies in flight); retry after `retryAfterS`. */
  'SERVICE_UNAVAILABLE',
  'NOT_READY',
  'TIMEOUT',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** What an error tells beyond its code and message; each transport says it its own way (HTTP: see apps/api/src/http/status.ts). */
export interface AppErrorDetails {
  /** Seconds after which the same request may succeed (capacity, a rate limit, a request with the same key still running). */
  retryAfterS?: number;
  /** The job the error is about, when it exists and can be read later (e.g. it did not finish in time). */
  jobId?: string;
  /** The input was refused before it was read to its end, and the rest of it will not be read. */
  inputUnread?: boolean;
}

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: AppErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

const ERROR_CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

export function isErrorCode(code: string): code is ErrorCode {
  return ERROR_CODE_SET.has(code);
}
