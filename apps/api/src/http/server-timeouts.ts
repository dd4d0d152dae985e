/**
 * Timeouts on the API's HTTP server, so a client that connects and then
 * stalls (slow headers, an upload that never completes, an idle keep-alive
 * connection) holds its socket, and its share of the upload budget, only so
 * long. Node's own header and request timeouts are checked on a 30 s sweep
 * (connectionsCheckingInterval, fixed when the server is created), so a
 * request's body is also given its own timer here: a body not fully received
 * within requestTimeoutMs of its headers is answered 408 and its connection
 * closed, on time.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface ServerTimeouts {
  /** HTTP_HEADERS_TIMEOUT_MS: time to send a request's headers. Longer than keepAliveTimeoutMs, at most requestTimeoutMs. */
  headersTimeoutMs: number;
  /** HTTP_REQUEST_TIMEOUT_MS: time to send a whole request, headers and body. */
  requestTimeoutMs: number;
  /** HTTP_KEEP_ALIVE_TIMEOUT_MS: how long an idle connection is kept open for a next request. */
  keepAliveTimeoutMs: number;
}

/** After answering 408, how long the connection may take to flush it before it is destroyed. */
const CUT_FLUSH_MS = 1000;

/** Node's rules (config checks the same, with the variables' names): headers <= request, and keep-alive < headers. */
function checkOrder(timeouts: ServerTimeouts): void {
  if (timeouts.headersTimeoutMs > timeouts.requestTimeoutMs) {
    throw new RangeError(`headersTimeoutMs (${timeouts.headersTimeoutMs}) must not exceed requestTimeoutMs (${timeouts.requestTimeoutMs})`);
  }
  if (timeouts.keepAliveTimeoutMs >= timeouts.headersTimeoutMs) {
    throw new RangeError(`keepAliveTimeoutMs (${timeouts.keepAliveTimeoutMs}) must be shorter than headersTimeoutMs (${timeouts.headersTimeoutMs})`);
  }
}

/** Answers 408 and closes the connection of a request whose body has not fully arrived; cuts it at once if an answer had begun. */
function cutStalledRequest(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  if (res.headersSent) {
    socket.destroy();
    return;
  }
  res.writeHead(408, { Connection: 'close', 'Content-Length': '0' }).end();
  setTimeout(() => socket.destroy(), CUT_FLUSH_MS).unref();
}

/** A body-read deadline per request: cleared once it is answered; a no-op if the whole request had arrived by then. */
function bodyReadDeadline(timeoutMs: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const timer = setTimeout(() => {
      if (!req.complete) cutStalledRequest(req, res);
    }, timeoutMs);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
  };
}

/** Applies the timeouts to `server`; call it right after listen() returned the server, before any request. */
export function applyServerTimeouts(server: Server, timeouts: ServerTimeouts): void {
  checkOrder(timeouts);
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.on('request', bodyReadDeadline(timeouts.requestTimeoutMs));
}
