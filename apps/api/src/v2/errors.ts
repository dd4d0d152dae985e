/**
 * Errors as the Open Inference Protocol answers them: an HTTP error status
 * and `{"error": "<message>"}` (inference_rest.md: "$inference_error_response
 * = { "error": <error message string> }", likewise for metadata). Statuses
 * come from the API's one table (http/status.ts): 400 for a bad request (the
 * protocol's "typically 400"), 404 for an unknown model, 401/429/413/415/503
 * as on /v1, 504 when the job did not finish in PREDICT_TIMEOUT_MS.
 */
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { AppError } from '@digitq/contracts';
import { ImageError } from '@digitq/imaging';
import { isRedisUnavailableError } from '@digitq/service';
import { detailsAsHttp, errorStatus, imageErrorStatus, jobFailureStatus } from '../http/status.ts';
import { REDIS_UNAVAILABLE_RETRY_AFTER_S } from '../middleware/error-handler.ts';
import { JobFailedError } from '../use-cases/predict.ts';

const SERVER_ERROR = 500;
const SERVICE_UNAVAILABLE = 503;

export interface V2ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: { error: string };
}

export function v2ErrorAnswer(error: unknown, requestId: string): V2ErrorAnswer {
  if (error instanceof AppError) {
    return { status: errorStatus(error.code), headers: detailsAsHttp(error.code, error.details).headers, body: { error: error.message } };
  }
  if (error instanceof ImageError) return { status: imageErrorStatus(error.code), headers: {}, body: { error: `${error.code}: ${error.message}` } };
  if (error instanceof JobFailedError) {
    return { status: jobFailureStatus(error.code), headers: {}, body: { error: `job ${error.jobId} failed: ${error.code}: ${error.message}` } };
  }
  if (isRedisUnavailableError(error)) {
    return {
      status: SERVICE_UNAVAILABLE,
      headers: { 'Retry-After': String(REDIS_UNAVAILABLE_RETRY_AFTER_S) },
      body: { error: `the job store (Redis) did not answer; retry in ${REDIS_UNAVAILABLE_RETRY_AFTER_S} s` },
    };
  }
  return { status: SERVER_ERROR, headers: {}, body: { error: `internal error (request ${requestId})` } };
}

function send(res: Response, answer: V2ErrorAnswer): void {
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.status(answer.status).json(answer.body);
}

/** The V2 router's error handler: every error under /v2 answers in the protocol's shape. */
export function v2ErrorHandler(): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) return next(error);
    const answer = v2ErrorAnswer(error, String(req.id));
    // The request's log line carries the error behind a 5xx.
    if (answer.status >= SERVER_ERROR) res.err = error instanceof Error ? error : new Error(String(error));
    // For the request metrics' rejection count (the protocol's body carries no code).
    res.locals.errorCode = error instanceof AppError ? error.code : answer.status === SERVICE_UNAVAILABLE ? 'SERVICE_UNAVAILABLE' : undefined;
    send(res, answer);
  };
}

export function v2RouteNotFound(): RequestHandler {
  return (req, _res, next) => next(new AppError('ROUTE_NOT_FOUND', `no Open Inference Protocol endpoint ${req.method} ${req.originalUrl.split('?')[0]}`));
}
