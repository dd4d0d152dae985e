/**
 * One log line per request (with its owner), and a request id on every
 * request, response and request-scoped log line (`req.id` via `req.log`):
 * a sane incoming `X-Request-Id` (from a proxy or the client) is kept so logs
 * can be joined across hops; otherwise a fresh UUID.
 *
 * Credentials never reach the log. Headers whose names suggest one
 * (Authorization, X-Api-Key, Cookie, anything with auth, key, token, secret,
 * password, session, signature or credential in its name) are replaced
 * (Authorization keeps its scheme), and so are query parameters so named, in
 * the logged URL and query alike: clients put keys in all of these.
 *
 * Stacks only where they help: a 4xx is the client's doing and logs without
 * an error object; a 503 (Redis unreachable, not ready, over capacity) logs
 * its `reason`, without a stack; other 5xx carry the error with its stack.
 * Probes and scrapes (/healthz, /readyz, /metrics) log at debug while they
 * succeed.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { RequestHandler } from 'express';
import type { SerializedRequest, SerializedResponse } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Logger } from '@digitq/service';

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const SERVER_ERROR = 500;
const SERVICE_UNAVAILABLE = 503;
const CLIENT_ERROR = 400;
/** Called every few seconds by load balancers and Prometheus. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export const REDACTED = '[redacted]';
/** Names of headers and query parameters that carry credentials (api_key, X-Api-Key, access_token, Cookie...). */
const SECRET_NAME = /auth|cookie|key|token|secret|passw|session|signature|credential/i;
/** Matched by SECRET_NAME but grant nothing: kept, since they join a client's retries in the logs. */
const NOT_SECRET_NAMES: ReadonlySet<string> = new Set(['idempotency-key']);
/** Headers whose scheme is worth keeping: `Bearer [redacted]` still says how the client tried. */
const SCHEME_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization']);

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRET_NAMES.has(name.toLowerCase());
}

/** `Bearer sk_live_...` -> `Bearer [redacted]`. */
export function redactAuthorization(value: string): string {
  const scheme = /^\S+/.exec(value)?.[0] ?? '';
  return `${scheme} ${REDACTED}`.trim();
}

/** A copy of `headers` with every credential-carrying value replaced. */
export function redactHeaders<T extends IncomingHttpHeaders | OutgoingHttpHeaders>(headers: T): T {
  const redacted: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!isSecretName(name) || value === undefined) redacted[name] = value;
    else if (SCHEME_HEADERS.has(name.toLowerCase()) && typeof value === 'string') redacted[name] = redactAuthorization(value);
    else redacted[name] = REDACTED;
  }
  return redacted as T;
}

function decodedName(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    return encoded;
  }
}

/** `/v1/jobs?api_key=sk_live_x&limit=5` -> `/v1/jobs?api_key=[redacted]&limit=5`; the rest as sent. */
export function redactUrl(url: string): string {
  const question = url.indexOf('?');
  if (question === -1) return url;
  const [query, fragment] = url.slice(question + 1).split('#', 2) as [string, string | undefined];
  const params = query.split('&').map((param) => {
    const equals = param.indexOf('=');
    const name = equals === -1 ? param : param.slice(0, equals);
    return equals !== -1 && isSecretName(decodedName(name)) ? `${name}=${REDACTED}` : param;
  });
  return `${url.slice(0, question)}?${params.join('&')}${fragment === undefined ? '' : `#${fragment}`}`;
}

/** The parsed query (Express's req.query) with credential-named parameters replaced, at any depth. */
export function redactQuery(query: unknown): unknown {
  if (Array.isArray(query)) return query.map(redactQuery);
  if (query === null || typeof query !== 'object') return query;
  return Object.fromEntries(Object.entries(query).map(([name, value]) => [name, isSecretName(name) ? REDACTED : redactQuery(value)]));
}

/** pino-http hands serializers pino's own serialization of req and res (it wraps them), so these only redact. */
function serializeRequest(req: SerializedRequest): SerializedRequest {
  req.headers = redactHeaders(req.headers);
  if (typeof req.url === 'string') req.url = redactUrl(req.url);
  (req as { query: unknown }).query = redactQuery(req.query);
  return req;
}

function serializeResponse(res: SerializedResponse): SerializedResponse {
  res.headers = redactHeaders(res.headers);
  return res;
}

type LoggedResponse = { statusCode: number; err?: Error };

/** pino-http's stand-in when a 5xx carries no error: "failed with status code 503", a stack that says nothing. */
function isStandIn(error: Error, res: LoggedResponse): boolean {
  return res.err !== error && error.message === `failed with status code ${res.statusCode}`;
}

/** What a response's log line says about its error (see the header: stacks only for unexpected 5xx). */
function errorFields(error: Error, res: LoggedResponse, fields: Record<string, unknown>): Record<string, unknown> {
  const { err: _err, ...rest } = fields;
  if (res.statusCode < SERVER_ERROR) return rest;
  if (isStandIn(error, res)) return rest;
  if (res.statusCode === SERVICE_UNAVAILABLE) return { ...rest, reason: error.message };
  return fields;
}

export function requestLog(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    serializers: { req: serializeRequest, res: serializeResponse },
    genReqId(req, res) {
      const incoming = req.headers['x-request-id'];
      const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    // The owner (API key id) on the request's line, once the auth middleware has set it.
    customProps: (_req, res) => ({ owner: (res as { locals?: { owner?: string } }).locals?.owner }),
    customErrorObject: (_req, res, error, fields) => errorFields(error, res as LoggedResponse, fields),
    customLogLevel(req, res, error) {
      if (QUIET_PATHS.has(req.url?.split('?')[0] ?? '')) return res.statusCode < CLIENT_ERROR ? 'debug' : 'warn';
      // Temporarily unavailable (Redis down, over capacity): the client retries; the outage itself is logged once.
      if (res.statusCode === SERVICE_UNAVAILABLE) return 'warn';
      if (res.statusCode >= SERVER_ERROR) return 'error';
      // An error below 500 is the client's doing, e.g. a request aborted mid-upload.
      if (error || res.statusCode >= CLIENT_ERROR) return 'warn';
      return 'info';
    },
  });
}
