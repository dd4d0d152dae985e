/**
 * Timeouts on the API's HTTP server, so a client that connects and then
 * stalls (slow headers, an upload body that never completes, an idle
 * keep-alive connection) holds its socket, and its share of the upload
 * budget, only so long. A request whose headers, or whole body, have not
 * arrived in time is answered 408 by Node and its connection closed. Node
 * finds such requests by sweeping its connections every
 * connectionsCheckingInterval (30 s unless set), which would let a stalled
 * request live up to 30 s past its timeout: the sweep is made every second.
 */
import type { Server } from 'node:http';

export interface ServerTimeouts {
  /** HTTP_HEADERS_TIMEOUT_MS: time to send a request's headers. Longer than keepAliveTimeoutMs, at most requestTimeoutMs. */
  headersTimeoutMs: number;
  /** HTTP_REQUEST_TIMEOUT_MS: time to send a whole request, headers and body (the body-read timeout). */
  requestTimeoutMs: number;
  /** HTTP_KEEP_ALIVE_TIMEOUT_MS: how long an idle connection is kept open for a next request. */
  keepAliveTimeoutMs: number;
}

/** How often Node looks for connections past their header or request timeout (its default: 30 s). */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1000;

/** Node's rules (config checks the same, with the variables' names): headers <= request, and keep-alive < headers. */
function checkOrder(timeouts: ServerTimeouts): void {
  if (timeouts.headersTimeoutMs > timeouts.requestTimeoutMs) {
    throw new RangeError(`headersTimeoutMs (${timeouts.headersTimeoutMs}) must not exceed requestTimeoutMs (${timeouts.requestTimeoutMs})`);
  }
  if (timeouts.keepAliveTimeoutMs >= timeouts.headersTimeoutMs) {
    throw new RangeError(`keepAliveTimeoutMs (${timeouts.keepAliveTimeoutMs}) must be shorter than headersTimeoutMs (${timeouts.headersTimeoutMs})`);
  }
}

/**
 * Applies the timeouts to `server`. Call it before the server starts
 * listening or right after listen() returned it: Node starts its sweep on
 * 'listening', with the interval it finds then (a createServer option that
 * app.listen() does not pass, so it is set here as the property Node reads).
 */
export function applyServerTimeouts(server: Server, timeouts: ServerTimeouts): void {
  checkOrder(timeouts);
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = CONNECTIONS_CHECK_INTERVAL_MS;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
}
