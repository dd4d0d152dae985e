/**
 * A real webhook receiver for tests: node:http on 127.0.0.1, a free port,
 * recording every request (headers, raw body, arrival time) and answering
 * through a handler the test sets. Source-only, for tests.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Date.now() when the body had arrived. */
  at: number;
}

/** Answers one request; `index` counts requests to this receiver from 0. */
export type ReceiverHandler = (request: ReceivedRequest, res: ServerResponse, index: number) => void;

export interface TestReceiver {
  /** e.g. http://127.0.0.1:41234 */
  origin: string;
  url(path?: string): string;
  requests: ReceivedRequest[];
  /** Resolves once `count` requests have arrived (rejects after `timeoutMs`). */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

const DEFAULT_WAIT_MS = 10_000;
const POLL_MS = 10;

export const answer = {
  status: (code: number, headers: Record<string, string> = {}): ReceiverHandler => (_req, res) => {
    res.writeHead(code, headers).end();
  },
};

export async function startTestReceiver(handler: ReceiverHandler = answer.status(204)): Promise<TestReceiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(received);
      handler(received, res, requests.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (path = '/hook') => `${origin}${path}`,
    requests,
    async waitForRequests(count, timeoutMs = DEFAULT_WAIT_MS) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} webhook requests within ${timeoutMs} ms, got ${requests.length}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      return requests.slice(0, count);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
