/**
 * The client against a small HTTP server of the test's own on loopback: how
 * it follows a job over server-sent events, falls back to polling, and maps
 * errors. The real API is exercised by test/e2e/client.e2e.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DigitqClient, nextPollDelay, POLL_BACKOFF } from './client.ts';
import { DigitqError, DigitqTimeoutError, DigitqUnreachableError } from './errors.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const job = (id: string, status: string, extra: Record<string, unknown> = {}) => ({
  id,
  status,
  created_at: '2025-01-01T00:00:00.000Z',
  started_at: null,
  completed_at: null,
  model: null,
  input: { count: 1 },
  output: null,
  error: null,
  attempts: 0,
  ...extra,
});

let server: Server;
let baseUrl: string;
const routes = new Map<string, Handler>();
const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const handler = routes.get(`${req.method} ${req.url}`);
    if (handler) return handler(req, res);
    res.writeHead(404, { 'content-type': 'application/json', 'x-request-id': 'req-404' });
    res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${req.url}` } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  routes.clear();
  seen.length = 0;
});

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** GET <path> answers each of `states` in turn, then the last one forever. */
function polled(path: string, states: unknown[]) {
  let i = 0;
  routes.set(`GET ${path}`, (_req, res) => sendJson(res, 200, states[Math.min(i++, states.length - 1)]));
  return () => i;
}

function sse(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
}

describe('following a job', () => {
  it('reads the event stream, with its heartbeats and split writes, and sends the key', async () => {
    routes.set('GET /v1/jobs/j1/events', (_req, res) => {
      sse(res);
      res.write(': heartbeat\n\n');
      res.write(`id: 1\nevent: status\ndata: ${JSON.stringify(job('j1', 'processing'))}\n\n`);
      const last = `id: 2\nevent: finished\ndata: ${JSON.stringify(job('j1', 'succeeded', { output: { predictions: [] } }))}\n\n`;
      // A final event cut in the middle: the client must wait for the rest.
      res.write(last.slice(0, 20));
      setTimeout(() => res.end(last.slice(20)), 50);
    });
    const getCount = polled('/v1/jobs/j1', [job('j1', 'queued')]);
    const client = new DigitqClient({ baseUrl, apiKey: 'sk_test_0123456789abcdef' });

    const statuses: string[] = [];
    for await (const view of client.events('j1')) statuses.push(view.status);
    expect(statuses).toEqual(['processing', 'succeeded']);
    expect(getCount()).toBe(0);
    expect(seen[0]!.headers.authorization).toBe('Bearer sk_test_0123456789abcdef');
    expect(seen[0]!.headers.accept).toBe('text/event-stream');

    expect((await client.wait('j1')).status).toBe('succeeded');
  });

  it('polls when the server has no event stream (404), until a final state', async () => {
    const getCount = polled('/v1/jobs/j2', [job('j2', 'queued'), job('j2', 'queued'), job('j2', 'processing'), job('j2', 'failed', { error: { code: 'BAD_INPUT', message: 'x' } })]);
    const client = new DigitqClient({ baseUrl });
    const done = await client.wait('j2', { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toEqual({ code: 'BAD_INPUT', message: 'x' });
    expect(getCount()).toBe(4);
    expect(seen.map((r) => r.url)).toEqual(['/v1/jobs/j2/events', '/v1/jobs/j2', '/v1/jobs/j2', '/v1/jobs/j2', '/v1/jobs/j2']);
  });

  it('resumes a broken stream after its last event id, and polls once resuming gets no further', async () => {
    let opened = 0;
    routes.set('GET /v1/jobs/j3/events', (req, res) => {
      opened++;
      sse(res);
      if (!req.headers['last-event-id']) res.write(`id: 1\nevent: status\ndata: ${JSON.stringify(job('j3', 'queued'))}\n\n`);
      else if (req.headers['last-event-id'] === '1') res.write(`id: 2\nevent: status\ndata: ${JSON.stringify(job('j3', 'processing'))}\n\n`);
      // Then breaks; on the third connection, nothing new at all.
      setTimeout(() => res.destroy(), 30);
    });
    polled('/v1/jobs/j3', [job('j3', 'succeeded')]);
    const client = new DigitqClient({ baseUrl });
    const statuses: string[] = [];
    for await (const view of client.events('j3')) statuses.push(view.status);
    expect(statuses).toEqual(['queued', 'processing', 'succeeded']);
    expect(opened).toBe(3);
    expect(seen.map((r) => r.headers['last-event-id'] ?? null)).toEqual([null, '1', '2', null]);
  });

  it("does not poll with transport 'sse', and never opens a stream with transport 'poll'", async () => {
    polled('/v1/jobs/j4', [job('j4', 'canceled')]);
    const client = new DigitqClient({ baseUrl });
    await expect(client.wait('j4', { transport: 'sse' })).rejects.toMatchObject({ name: 'DigitqError', status: 404, code: 'ROUTE_NOT_FOUND' });
    seen.length = 0;
    expect((await client.wait('j4', { transport: 'poll' })).status).toBe('canceled');
    expect(seen.map((r) => r.url)).toEqual(['/v1/jobs/j4']);
  });

  it('gives up after timeoutMs with DigitqTimeoutError naming the last status', async () => {
    polled('/v1/jobs/j5', [job('j5', 'queued')]);
    const client = new DigitqClient({ baseUrl });
    const error = await client.wait('j5', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigitqTimeoutError);
    expect(error).toMatchObject({ id: 'j5', timeoutMs: 300, lastStatus: 'queued' });
  });

  it('stops when the caller aborts, with the signal’s reason', async () => {
    polled('/v1/jobs/j6', [job('j6', 'processing')]);
    const client = new DigitqClient({ baseUrl });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('enough')), 100);
    await expect(client.wait('j6', { signal: controller.signal })).rejects.toThrow('enough');
  });

  it('merges progress events into the training view', async () => {
    const training = { id: 't1', status: 'processing', progress: null, history: [] };
    const step = { epoch: 1, epochs: 2, batch: 5, batches: 10 };
    const epoch = { epoch: 1, loss: 0.1 };
    routes.set('GET /v1/trainings/t1/events', (_req, res) => {
      sse(res);
      res.write(`id: 1\nevent: status\ndata: ${JSON.stringify(training)}\n\n`);
      res.write(`id: 2\nevent: progress\ndata: ${JSON.stringify({ progress: { progress: step, history: [epoch] }, sequence: 15 })}\n\n`);
      res.write(`event: surprise\ndata: {"unknown": true}\n\n`);
      res.end(`id: 3\nevent: finished\ndata: ${JSON.stringify({ ...training, status: 'succeeded' })}\n\n`);
    });
    const client = new DigitqClient({ baseUrl });
    const views = [];
    for await (const view of client.trainingEvents('t1')) views.push({ status: view.status, progress: view.progress, history: view.history });
    expect(views).toEqual([
      { status: 'processing', progress: null, history: [] },
      { status: 'processing', progress: step, history: [epoch] },
      { status: 'succeeded', progress: null, history: [] },
    ]);
  });
});

describe('poll backoff', () => {
  it('grows while nothing changes, up to the cap, and starts over after a change', () => {
    const delays: number[] = [POLL_BACKOFF.initialMs];
    for (let i = 0; i < 10; i++) delays.push(nextPollDelay(delays.at(-1)!, false));
    expect(delays.slice(0, 3)).toEqual([200, 300, 450]);
    expect(delays.at(-1)).toBe(POLL_BACKOFF.maxMs);
    expect(nextPollDelay(POLL_BACKOFF.maxMs, true)).toBe(POLL_BACKOFF.initialMs);
  });
});

describe('errors', () => {
  it("carries the server's code, message, status, request id and Retry-After", async () => {
    routes.set('GET /v1/jobs/nope', (_req, res) =>
      sendJson(res, 429, { error: { code: 'QUEUE_FULL', message: 'the queue is full' }, job_id: 'j9' }, { 'x-request-id': 'req-1', 'retry-after': '3' }),
    );
    const error = await new DigitqClient({ baseUrl }).get('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigitqError);
    expect(error).toMatchObject({ status: 429, code: 'QUEUE_FULL', message: 'the queue is full', requestId: 'req-1', details: { retryAfterS: 3, jobId: 'j9' } });
  });

  it('says HTTP_<status> for an answer that is not the API’s error shape', async () => {
    routes.set('GET /v1/models', (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>Bad Gateway</html>');
    });
    await expect(new DigitqClient({ baseUrl }).models()).rejects.toMatchObject({ status: 502, code: 'HTTP_502', requestId: null, message: expect.stringContaining('Bad Gateway') });
  });

  it('DigitqUnreachableError when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const error = await new DigitqClient({ baseUrl: `http://127.0.0.1:${port}` }).models().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigitqUnreachableError);
    expect((error as Error).message).toBe(`cannot reach http://127.0.0.1:${port}/v1/models: ECONNREFUSED`);
  });
});

describe('requests', () => {
  it('sends images as multipart parts with the job options, and the admin key to admin routes', async () => {
    let body = '';
    routes.set('POST /v1/jobs', (req, res) => {
      req.setEncoding('latin1');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => sendJson(res, 202, job('j7', 'queued')));
    });
    routes.set('POST /v1/models/digitnet/v2/activate', (_req, res) => sendJson(res, 200, { name: 'digitnet', version: 'v2', active: true }));
    const client = new DigitqClient({ baseUrl, apiKey: 'user-key-0123456789', adminKey: 'admin-key-0123456789' });
    await client.submit([new Uint8Array([1, 2, 3]), new File([new Uint8Array([4])], 'four.png')], {
      priority: 9,
      webhook: 'https://example.com/hook',
      webhookEvents: ['job.started', 'job.completed'],
      idempotencyKey: 'k1',
      waitS: 2,
    });
    const submit = seen[0]!;
    expect(submit.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(submit.headers['idempotency-key']).toBe('k1');
    expect(submit.headers.prefer).toBe('wait=2');
    expect(body).toContain('name="image"; filename="image-1"');
    expect(body).toContain('name="image"; filename="four.png"');
    expect(body).toMatch(/name="priority"\r\n\r\n9\r\n/);
    expect(body).toMatch(/name="webhook_events_filter"\r\n\r\njob.started,job.completed\r\n/);

    await client.activate('digitnet', 'v2');
    expect(seen[1]!.headers.authorization).toBe('Bearer admin-key-0123456789');
  });
});
