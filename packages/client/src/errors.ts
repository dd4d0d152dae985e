/**
 * What a call can fail with: the server answered with an error
 * (DigitqError: its code, message and request id), the server could not be
 * reached (DigitqUnreachableError), or a wait ran out of time
 * (DigitqTimeoutError). An aborted call rejects with the signal's reason, as
 * fetch does.
 */
import type { ErrorCode, ErrorResponse } from '@digitq/contracts';

const REQUEST_ID_HEADER = 'x-request-id';

/** The server answered with a 4xx/5xx. */
export class DigitqError extends Error {
  override readonly name = 'DigitqError';
  constructor(
    /** HTTP status. */
    readonly status: number,
    /** The server's error code (e.g. UNAUTHORIZED, JOB_NOT_FOUND); HTTP_<status> when the body was not the API's error shape (a proxy's page). */
    readonly code: ErrorCode | `HTTP_${number}`,
    message: string,
    /** X-Request-Id of the response: quote it when asking the operator about this request. */
    readonly requestId: string | null,
    readonly details: {
      /** Retry-After in seconds (429, 503), when the server said. */
      retryAfterS?: number;
      /** The job the error is about (e.g. a POST /predict that did not finish in time). */
      jobId?: string;
    } = {},
  ) {
    super(message);
  }
}

/** No HTTP answer at all: connection refused, DNS failure, reset, TLS failure. */
export class DigitqUnreachableError extends Error {
  override readonly name = 'DigitqUnreachableError';
  constructor(
    readonly url: string,
    options: { cause: unknown },
  ) {
    super(`cannot reach ${url}: ${describeCause(options.cause)}`, options);
  }
}

/** wait() ran out of time; the job carries on on the server. */
export class DigitqTimeoutError extends Error {
  override readonly name = 'DigitqTimeoutError';
  constructor(
    readonly id: string,
    readonly timeoutMs: number,
    /** The last state seen, when any. */
    readonly lastStatus: string | null,
  ) {
    super(`${id} did not finish within ${timeoutMs} ms${lastStatus ? ` (still ${lastStatus})` : ''}`);
  }
}

/** Node's fetch says "fetch failed" and keeps the reason (ECONNREFUSED...) in cause. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) return `${(inner as { code?: string }).code ?? inner.message}`;
  return cause.message;
}

function isErrorResponse(body: unknown): body is ErrorResponse {
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
  return typeof error?.code === 'string' && typeof error.message === 'string';
}

/** The DigitqError a non-2xx response stands for; reads the body. */
export async function errorFromResponse(response: Response): Promise<DigitqError> {
  const requestId = response.headers.get(REQUEST_ID_HEADER);
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML page): said below as HTTP_<status>.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  const details = {
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}),
    ...(isErrorResponse(body) && body.job_id ? { jobId: body.job_id } : {}),
  };
  if (isErrorResponse(body)) return new DigitqError(response.status, body.error.code as ErrorCode, body.error.message, requestId, details);
  const snippet = text.trim().slice(0, 200);
  return new DigitqError(response.status, `HTTP_${response.status}`, `HTTP ${response.status} ${response.statusText}${snippet ? `: ${snippet}` : ''}`, requestId, details);
}
