/**
 * One log line per request (with its owner), and a request id on every
 * request, response and request-scoped log line (`req.id` via `req.log`):
 * a sane incoming `X-Request-Id` (from a proxy or the client) is kept so logs
 * can be joined across hops; otherwise a fresh UUID.
 *
 * Credentials never reach the log: the Authorization header (API keys, the
 * admin key, basic-auth passwords) is replaced by its scheme. Probes and
 * scrapes (/healthz, /readyz, /metrics) log at debug while they succeed.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { stdSerializers } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Logger } from '@digitq/service';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const SERVER_ERROR = 500;
const CLIENT_ERROR = 400;
/** Called every few seconds by load balancers and Prometheus. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** `Bearer sk_live_...` -> `Bearer [redacted]`. */
export function redactAuthorization(value: string): string {
  const scheme = /^\S+/.exec(value)?.[0] ?? '';
  return `${scheme} [redacted]`.trim();
}

const serializeRequest = stdSerializers.wrapRequestSerializer((req) => {
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string') req.headers = { ...req.headers, authorization: redactAuthorization(authorization) };
  return req;
});

export function requestLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    serializers: { req: serializeRequest },
    genReqId(req, res) {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    // The owner (API key id) on the request's line, once the auth middleware has set it.
    customProps: (_req, res) => ({ owner: (res as { locals?: { owner?: string } }).locals?.owner }),
    customLogLevel(req, res, error) {
      if (QUIET_PATHS.has(req.url?.split('?')[0] ?? '')) return res.statusCode < CLIENT_ERROR ? 'debug' : 'warn';
      if (res.statusCode >= SERVER_ERROR) return 'error';
      // An error below 500 is the client's doing, e.g. a request aborted mid-upload.
      if (error || res.statusCode >= CLIENT_ERROR) return 'warn';
      return 'info';
    },
  });
}
