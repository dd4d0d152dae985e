/**
 * The one place errors become HTTP answers: `{"error": {"code", "message"}}`
 * with the status of the code (ERROR_STATUS for AppError, imaging's table
 * for ImageError). Anything unexpected is answered as a bare 500 INTERNAL,
 * without its message; the request log line carries the error.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AppError, ERROR_STATUS, JOB_CANCELED, isErrorCode, type ErrorCode, type ErrorResponse } from '@digitq/contracts';
import { IMAGE_ERROR_HTTP_STATUS, ImageError, imageErrorHttpStatus, type ImageErrorCode } from '@digitq/imaging';
import { isRedisUnavailableError } from '@digitq/service';
import { JobFailedError } from '../use-cases/predict.ts';

const JOB_CANCELED_STATUS = 409;
const JOB_FAILED_STATUS = 500;
const SERVER_ERROR = 500;

function isImageErrorCode(code: string): code is ImageErrorCode {
  return Object.hasOwn(IMAGE_ERROR_HTTP_STATUS, code);
}

/**
 * Status for a failed job's error code. The worker's codes say whose fault it
 * was: an image error keeps imaging's status (413/415/422: the input was
 * bad), a code from ERROR_STATUS keeps that status (e.g. MODEL_NOT_FOUND 404),
 * a canceled job is 409; any other code (a crash, JOB_FAILED after retries)
 * is a server failure, 500.
 */
export function jobFailureStatus(code: string): number {
  if (isImageErrorCode(code)) return imageErrorHttpStatus(code);
  if (code === JOB_CANCELED) return JOB_CANCELED_STATUS;
  if (isErrorCode(code)) return ERROR_STATUS[code];
  return JOB_FAILED_STATUS;
}

/** Errors from Express's own body parsers (http-errors with `expose`), by status. */
const HTTP_ERROR_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

interface ExposedHttpError extends Error {
  status: number;
  expose: true;
  type?: string;
  /** body-parser's encoding.unsupported: the Content-Encoding it refused. */
  encoding?: string;
}

function isExposedHttpError(error: unknown): error is ExposedHttpError {
  const candidate = error as Partial<ExposedHttpError> | null;
  return error instanceof Error && candidate?.expose === true && typeof candidate.status === 'number';
}

function messageOfHttpError(error: ExposedHttpError): string {
  if (error.type === 'entity.parse.failed') return `the request body is not valid JSON: ${error.message}`;
  if (error.type === 'entity.too.large') return `the request body is larger than the limit of ${(error as { limit?: number }).limit} bytes`;
  if (error.type === 'encoding.unsupported') return `Content-Encoding ${error.encoding ?? ''} is not accepted: send the request body uncompressed`;
  return error.message;
}

interface Answer {
  status: number;
  body: ErrorResponse;
  headers?: Record<string, string>;
}

/** What a client is told to wait while Redis is unreachable: a few of ioredis's reconnect attempts (at most 2 s apart). */
export const REDIS_UNAVAILABLE_RETRY_AFTER_S = 5;

/**
 * Redis unreachable or too slow (REDIS_COMMAND_TIMEOUT_MS): 503 with Retry-After. After a timeout the
 * command may still have run, so a submit's answer is ambiguous: its retry should carry the same Idempotency-Key.
 */
const REDIS_UNAVAILABLE_ANSWER: Answer = {
  status: ERROR_STATUS.SERVICE_UNAVAILABLE,
  headers: { 'Retry-After': String(REDIS_UNAVAILABLE_RETRY_AFTER_S) },
  body: {
    error: {
      code: 'SERVICE_UNAVAILABLE',
      message: `the job store (Redis) did not answer; retry in ${REDIS_UNAVAILABLE_RETRY_AFTER_S} s (a submit retried with the same Idempotency-Key creates at most one job)`,
    },
  },
};

function answerFor(error: unknown): Answer | null {
  if (error instanceof AppError) {
    return { status: error.status, headers: error.details.headers, body: { error: { code: error.code, message: error.message }, ...error.details.body } };
  }
  if (error instanceof ImageError) {
    return { status: imageErrorHttpStatus(error.code), body: { error: { code: error.code, message: error.message } } };
  }
  if (error instanceof JobFailedError) {
    return { status: jobFailureStatus(error.code), body: { error: { code: error.code, message: error.message }, job_id: error.jobId } };
  }
  if (isExposedHttpError(error) && error.status >= 400 && error.status < 500) {
    const code = HTTP_ERROR_CODES[error.status] ?? 'VALIDATION_FAILED';
    return { status: error.status, body: { error: { code, message: messageOfHttpError(error) } } };
  }
  if (isRedisUnavailableError(error)) return REDIS_UNAVAILABLE_ANSWER;
  return null;
}

function send(res: Response, answer: Answer): void {
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.status(answer.status).json(answer.body);
}

export function errorHandler(): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const answer = answerFor(error) ?? {
      status: ERROR_STATUS.INTERNAL,
      body: { error: { code: 'INTERNAL', message: `internal error (request ${String(req.id)})` } },
    };
    // The request's log line (pino-http) carries the error behind a 5xx; a 4xx is the client's and logs as a warning.
    if (answer.status >= SERVER_ERROR) res.err = error instanceof Error ? error : new Error(String(error));
    send(res, answer);
  };
}

export function routeNotFound(): RequestHandler {
  return (req, _res, next) => {
    next(new AppError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  };
}
