/**
 * One log line per request, and a request id on every request and response:
 * a sane incoming `X-Request-Id` (from a proxy or the client) is kept so logs
 * can be joined across hops; otherwise a fresh UUID.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '@digitq/service';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const SERVER_ERROR = 500;
const CLIENT_ERROR = 400;

export function requestLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId(req, res) {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    customLogLevel(_req, res, error) {
      if (res.statusCode >= SERVER_ERROR) return 'error';
      // An error below 500 is the client's doing, e.g. a request aborted mid-upload.
      if (error || res.statusCode >= CLIENT_ERROR) return 'warn';
      return 'info';
    },
  });
}
