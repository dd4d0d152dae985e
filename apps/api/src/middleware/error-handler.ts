/**
 * The one place errors become HTTP answers: `{"error": {"code", "message"}}`
 * with the status of the code (http/status.ts, for AppError, ImageError and
 * a failed job's code alike). Anything unexpected is answered as a bare 500
 * INTERNAL, without its message; the request log line carries the error.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AppError, type ErrorCode, type ErrorResponse } from '@digitq/contracts';
import { ImageError } from '@digitq/imaging';
import { isRedisUnavailableError } from '@digitq/service';
import { ERROR_STATUS, detailsAsHttp, errorStatus, imageErrorStatus, jobFailureStatus } from '../http/status.ts';
import { JobFailedError } from '../use-cases/predict.ts';

const SERVER_ERROR = 500;

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
    const details = detailsAsHttp(error.code, error.details);
    return { status: errorStatus(error.code), headers: details.headers, body: { error: { code: error.code, message: error.message }, ...details.body } };
  }
  if (error instanceof ImageError) {
    return { status: imageErrorStatus(error.code), body: { error: { code: error.code, message: error.message } } };
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
    // For the request metrics: a 429/503 answer is counted as a rejection under its code (metrics.ts).
    res.locals.errorCode = answer.body.error.code;
    send(res, answer);
  };
}

export function routeNotFound(): RequestHandler {
  return (req, _res, next) => {
    next(new AppError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`));
  };
}
