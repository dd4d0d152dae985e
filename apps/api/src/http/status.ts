/**
 * The one place error codes become HTTP statuses (tRPC's getHTTPStatusCode):
 * AppError codes, ImageError codes (a subset of them) and the codes a failed
 * job carries. Nothing below the HTTP layer knows a status; what an error
 * adds (retry after, the job concerned, input left unread) becomes headers
 * and body fields here.
 */
import { JOB_CANCELED, isErrorCode, type AppErrorDetails, type ErrorCode } from '@digitq/contracts';
import type { ImageErrorCode } from '@digitq/imaging';
import { jobPath } from '../use-cases/paths.ts';

export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  NO_IMAGE: 400,
  TOO_MANY_IMAGES: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  FEEDBACK_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  CONFLICT: 409,
  JOB_FINISHED: 409,
  JOB_NOT_SUCCEEDED: 409,
  IDEMPOTENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  IMAGE_TOO_LARGE: 413,
  IMAGE_TOO_MANY_PIXELS: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IMAGE_UNSUPPORTED_FORMAT: 415,
  UNPROCESSABLE: 422,
  INDEX_OUT_OF_RANGE: 422,
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
  SERVICE_UNAVAILABLE: 503,
  NOT_READY: 503,
  TIMEOUT: 504,
} as const satisfies Record<ErrorCode, number>;

/** A canceled job the client waited on: the request conflicted with a cancel. */
const JOB_CANCELED_STATUS = 409;
/** A job that failed for its own reasons (a crash, JOB_FAILED after retries): the server's failure. */
const JOB_FAILED_STATUS = 500;

export function errorStatus(code: ErrorCode): number {
  return ERROR_STATUS[code];
}

/** Image errors answer from the same table: 413 for sizes, 415 for formats, 422 for content that cannot be a digit. */
export function imageErrorStatus(code: ImageErrorCode): number {
  return ERROR_STATUS[code];
}

/**
 * Status for a failed job's error code. The worker's codes say whose fault it
 * was: a code of the table keeps its status (an image error 413/415/422: the
 * input was bad; MODEL_NOT_FOUND 404), a canceled job is 409; any other code
 * is a server failure, 500.
 */
export function jobFailureStatus(code: string): number {
  if (code === JOB_CANCELED) return JOB_CANCELED_STATUS;
  if (isErrorCode(code)) return ERROR_STATUS[code];
  return JOB_FAILED_STATUS;
}

/**
 * An error's details as HTTP says them: Retry-After; the job's id in the body
 * (and, for a job still running after TIMEOUT, its Location to read it later);
 * `Connection: close` for input left unread, which spares the client sending
 * the rest of a body nobody reads.
 */
export function detailsAsHttp(code: string, details: AppErrorDetails): { headers: Record<string, string>; body: { job_id?: string } } {
  const headers: Record<string, string> = {};
  if (details.retryAfterS !== undefined) headers['Retry-After'] = String(details.retryAfterS);
  if (details.jobId !== undefined && code === 'TIMEOUT') headers.Location = jobPath(details.jobId);
  if (details.inputUnread) headers.Connection = 'close';
  return { headers, body: details.jobId === undefined ? {} : { job_id: details.jobId } };
}
