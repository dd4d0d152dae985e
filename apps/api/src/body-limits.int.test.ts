/**
 * Request bodies are bounded before they are buffered: compressed bodies,
 * declared and undeclared oversize, deep JSON, malformed bodies, the
 * per-process upload budget and the server's timeouts, against a real
 * listening server where the test needs to hold a request half-sent.
 */
import { createServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONNECTIONS_CHECK_INTERVAL_MS, applyServerTimeouts, type ServerTimeouts } from './http/server-timeouts.ts';
import { MAX_JSON_DEPTH } from './middleware/body.ts';
import { JSON_MEMORY_PER_BYTE, UPLOAD_BUDGET_RETRY_AFTER_S, UploadBudget } from './middleware/upload-budget.ts';
import { TEST_CONFIG, createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack | undefined;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await stack?.close();
  stack = undefined;
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: { error?: { code: string; message: string } };
}

/** Serves `app` on a loopback port until the test ends, with `timeouts` applied as main.ts applies them. */
async function serve(app: Express, timeouts?: ServerTimeouts): Promise<number> {
  const server = createServer(app);
  if (timeouts) applyServerTimeouts(server, timeouts);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Sends a request's headers, and `body` if given, without ever finishing it.
 * `answer` settles when the server answers anyway (e.g. refusing the body unread).
 */
function sendUnfinished(port: number, path: string, headers: OutgoingHttpHeaders, body?: Buffer): { answer: Promise<Answer>; req: ClientRequest } {
  const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false });
  // The server may close the connection while this body is still owed; that is the point.
  req.on('error', () => {});
  cleanups.push(() => void req.destroy());
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) });
      });
    });
  });
  req.flushHeaders();
  if (body) req.write(body);
  return { answer, req };
}

/** Sends `body` chunked (no Content-Length, so nothing can be refused from the headers) and reads the answer. */
function sendChunked(port: number, path: string, headers: OutgoingHttpHeaders, body: Buffer): Promise<Answer> {
  const { answer, req } = sendUnfinished(port, path, headers);
  req.end(body);
  return answer;
}

/** Sends exactly `body`, with its Content-Length (supertest would serialize a Buffer sent as JSON). */
function sendBytes(port: number, path: string, headers: OutgoingHttpHeaders, body: Buffer): Promise<Answer> {
  const { answer, req } = sendUnfinished(port, path, { ...headers, 'Content-Length': String(body.length) });
  req.end(body);
  return answer;
}

/** A raw connection: what the server sends, and when it closes the connection. */
function rawConnection(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks).toString(), closed };
}

function multipartBody(boundary: string, files: { field: string; name: string; bytes: Buffer }[]): Buffer {
  const parts = files.flatMap((file) => [
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.name}"\r\nContent-Type: image/png\r\n\r\n`),
    file.bytes,
    Buffer.from('\r\n'),
  ]);
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
}

function expectError(answer: { status: number; body: Answer['body'] }, status: number, code: string, message?: RegExp): void {
  expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status, code });
  if (message) expect(answer.body.error?.message).toMatch(message);
}

/** 64 MiB of zeros, gzipped to about 64 KiB: far past any body limit once inflated. */
const gzipBomb = () => gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x30));

describe('compressed bodies', () => {
  it('refuses gzip (JSON, multipart, trainings) with 415 UNSUPPORTED_MEDIA_TYPE asking for an uncompressed body, and enqueues nothing', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app);
    const json = await sendBytes(port, '/v1/jobs', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, gzipBomb());
    expectError(json, 415, 'UNSUPPORTED_MEDIA_TYPE', /Content-Encoding gzip .*uncompressed/);
    const multipart = await request(stack.app).post('/v1/jobs').set('Content-Encoding', 'gzip').attach('image', await fixtures.digit(3), 'three.png');
    expectError(multipart, 415, 'UNSUPPORTED_MEDIA_TYPE', /uncompressed/);
    const predict = await request(stack.app).post('/predict').set('Content-Encoding', 'deflate').attach('file', await fixtures.digit(3), 'three.png');
    expectError(predict, 415, 'UNSUPPORTED_MEDIA_TYPE', /Content-Encoding deflate/);
    const training = await sendBytes(port, '/v1/trainings', { 'Content-Type': 'application/json', 'Content-Encoding': 'br' }, Buffer.from('{}'));
    expectError(training, 415, 'UNSUPPORTED_MEDIA_TYPE', /uncompressed/);
    await stack.expectNothingEnqueued();
    expect(await stack.queues[1]!.count()).toBe(0);
  });

  it('answers a gzip bomb sent without Content-Length (chunked) the same, and the server goes on serving', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app);
    const answer = await sendChunked(port, '/v1/jobs', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, gzipBomb());
    expectError(answer, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe('oversize bodies', () => {
  it('refuses a declared Content-Length above the route limit with 413 before a byte of the body is sent, and closes the connection', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app);
    const tenGiB = String(10 * 1024 ** 3);
    const json = sendUnfinished(port, '/v1/jobs', { 'Content-Type': 'application/json', 'Content-Length': tenGiB });
    const answer = await json.answer;
    expectError(answer, 413, 'PAYLOAD_TOO_LARGE', new RegExp(`${tenGiB} bytes`));
    expect(answer.headers.connection).toBe('close');
    const multipart = await sendUnfinished(port, '/predict', { 'Content-Type': 'multipart/form-data; boundary=x', 'Content-Length': tenGiB }).answer;
    expectError(multipart, 413, 'PAYLOAD_TOO_LARGE');
    // Trainings take a few settings: 16 KiB.
    const training = await sendUnfinished(port, '/v1/trainings', { 'Content-Type': 'application/json', 'Content-Length': String(64 * 1024) }).answer;
    expectError(training, 413, 'PAYLOAD_TOO_LARGE');
    await stack.expectNothingEnqueued();
  });

  it('bounds an undeclared (chunked) JSON body at its limit: 413', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app);
    const huge = Buffer.from(JSON.stringify({ images: ['A'.repeat(TEST_CONFIG.MAX_IMAGE_BYTES * 2 * TEST_CONFIG.MAX_IMAGES_PER_JOB)] }));
    expectError(await sendChunked(port, '/v1/jobs', { 'Content-Type': 'application/json' }, huge), 413, 'PAYLOAD_TOO_LARGE');
    await stack.expectNothingEnqueued();
  });

  it('bounds the files of a multipart body together by MAX_REQUEST_BYTES: declared -> 413 unread, chunked -> 413 as the total passes it', async () => {
    // Three files of 60 KB each fit MAX_IMAGE_BYTES and MAX_IMAGES_PER_JOB, but not 100 KB together.
    const maxRequestBytes = 100_000;
    stack = await createTestStack({ MAX_REQUEST_BYTES: maxRequestBytes });
    const port = await serve(stack.app);
    const file = Buffer.alloc(60_000, 0x41);
    expect(file.length).toBeLessThan(TEST_CONFIG.MAX_IMAGE_BYTES);
    const body = multipartBody('b0undary', [1, 2, 3].map((i) => ({ field: 'image', name: `d${i}.png`, bytes: file })));
    const headers = { 'Content-Type': 'multipart/form-data; boundary=b0undary' };
    const declared = await sendUnfinished(port, '/v1/jobs', { ...headers, 'Content-Length': String(body.length) }).answer;
    expectError(declared, 413, 'PAYLOAD_TOO_LARGE', new RegExp(`limit of ${maxRequestBytes} bytes`));
    const chunked = await sendChunked(port, '/v1/jobs', headers, body);
    expectError(chunked, 413, 'PAYLOAD_TOO_LARGE', new RegExp(`files are larger than the limit of ${maxRequestBytes} bytes`));
    await stack.expectNothingEnqueued();
  });
});

describe('deep and malformed JSON', () => {
  const deep = `{"images":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;

  it.each([
    ['without', {}],
    ['with', { 'Idempotency-Key': 'deep-1' }],
  ])('refuses JSON nested 20,000 deep %s an Idempotency-Key: 400 VALIDATION_FAILED naming the limit', async (_, extra: Record<string, string>) => {
    stack = await createTestStack();
    const res = await request(stack.app).post('/v1/jobs').set('Content-Type', 'application/json').set(extra).send(deep);
    expectError(res, 400, 'VALIDATION_FAILED', new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    await stack.expectNothingEnqueued();
  });

  it('refuses deep JSON on POST /v1/trainings too', async () => {
    stack = await createTestStack();
    const body = `{"epochs":${'['.repeat(5000)}${']'.repeat(5000)}}`;
    const res = await request(stack.app).post('/v1/trainings').set('Content-Type', 'application/json').set('Idempotency-Key', 'deep-2').send(body);
    expectError(res, 400, 'VALIDATION_FAILED', /deeper than/);
  });

  it('refuses a body that is not valid UTF-8 with 400, and a charset other than UTF-8 with 415', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app);
    const invalid = Buffer.concat([Buffer.from('{"images":["'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"]}')]);
    const res = await sendBytes(port, '/v1/jobs', { 'Content-Type': 'application/json' }, invalid);
    expectError(res, 400, 'VALIDATION_FAILED', /UTF-8/);
    const utf16 = await sendBytes(port, '/v1/jobs', { 'Content-Type': 'application/json; charset=utf-16' }, Buffer.from('{}', 'utf16le'));
    expectError(utf16, 415, 'UNSUPPORTED_MEDIA_TYPE', /UTF-8/);
    await stack.expectNothingEnqueued();
  });

  it('refuses multipart field names that would build deep or sparse structures', async () => {
    stack = await createTestStack();
    const sparse = await request(stack.app).post('/v1/jobs').field('webhook_events_filter[99999999]', 'job.completed').attach('image', await fixtures.digit(1), 'one.png');
    expectError(sparse, 400, 'VALIDATION_FAILED', /webhook_events_filter/);
    const nested = await request(stack.app).post('/v1/jobs').field('a[b][c]', 'x').attach('image', await fixtures.digit(1), 'one.png');
    expectError(nested, 400, 'VALIDATION_FAILED');
    await stack.expectNothingEnqueued();
  });
});

describe('malformed requests never take the process down', () => {
  it('survives a body aborted mid-way, a broken multipart boundary and a body on GET, and releases the aborted upload', async () => {
    stack = await createTestStack();
    const uploads = new UploadBudget(TEST_CONFIG.UPLOAD_BUDGET_BYTES);
    const port = await serve(stack.appWith({ uploads }));
    const aborted = sendUnfinished(port, '/v1/jobs', { 'Content-Type': 'application/json', 'Content-Length': '50000' }, Buffer.from('{"images":["AAAA'));
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(50_000 * JSON_MEMORY_PER_BYTE));
    aborted.req.destroy();
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));

    const multipart = { 'Content-Type': 'multipart/form-data; boundary=b0undary' };
    const otherBoundary = Buffer.from('--other\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\nabc\r\n--other--\r\n');
    expectError(await sendBytes(port, '/v1/jobs', multipart, otherBoundary), 400, 'VALIDATION_FAILED', /multipart/);
    const truncated = Buffer.from('--b0undary\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n\r\nabc');
    expectError(await sendBytes(port, '/v1/jobs', multipart, truncated), 400, 'VALIDATION_FAILED', /multipart/);
    // An empty boundary: multer does not take it for multipart at all, so the form has no files.
    const emptyBoundary = await sendBytes(port, '/v1/jobs', { 'Content-Type': 'multipart/form-data; boundary=' }, otherBoundary);
    expectError(emptyBoundary, 400, 'NO_IMAGE');

    const withBody = rawConnection(port);
    withBody.socket.write('GET /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{"images":[1,2]}');
    await withBody.closed;
    expect(withBody.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(uploads.inFlightBytes).toBe(0);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });
});

describe('upload budget', () => {
  it('refuses an upload that would exceed UPLOAD_BUDGET_BYTES with 503 and Retry-After before its body is read, and takes uploads again once the budget is released', async () => {
    const config = { MAX_REQUEST_BYTES: 200_000, UPLOAD_BUDGET_BYTES: 300_000 };
    stack = await createTestStack(config);
    const uploads = new UploadBudget(config.UPLOAD_BUDGET_BYTES);
    const port = await serve(stack.appWith({ config: { ...TEST_CONFIG, ...config }, uploads }));
    const multipart = { 'Content-Type': 'multipart/form-data; boundary=b0undary' };

    // An upload that declares 200 KB and never sends it holds 200 KB of the budget.
    const holder = sendUnfinished(port, '/v1/jobs', { ...multipart, 'Content-Length': '200000' });
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(200_000));
    // 150 KB more does not fit: refused from the headers alone, its body never sent.
    const refused = await sendUnfinished(port, '/v1/jobs', { ...multipart, 'Content-Length': '150000' }).answer;
    expectError(refused, 503, 'SERVICE_UNAVAILABLE', /retry in/);
    expect(refused.headers['retry-after']).toBe(String(UPLOAD_BUDGET_RETRY_AFTER_S));
    expect(refused.headers.connection).toBe('close');
    // A chunked upload reserves the route's largest body: no room either.
    expectError(await sendUnfinished(port, '/predict', { ...multipart, 'Transfer-Encoding': 'chunked' }).answer, 503, 'SERVICE_UNAVAILABLE');
    // What fits is still taken, and gives its share back when answered.
    const small = await request(`http://127.0.0.1:${port}`).post('/v1/jobs').attach('image', await fixtures.digit(7), 'seven.png');
    expect(small.status).toBe(202);
    expect(uploads.inFlightBytes).toBe(200_000);
    // Requests without a body reserve nothing.
    expect((await request(`http://127.0.0.1:${port}`).get('/v1/jobs')).status).toBe(200);

    holder.req.destroy();
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));
    const again = sendUnfinished(port, '/v1/jobs', { ...multipart, 'Content-Length': '200000' });
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(200_000));
    // Released once only: the second 200 KB upload is still refused.
    expectError(await sendUnfinished(port, '/v1/jobs', { ...multipart, 'Content-Length': '200000' }).answer, 503, 'SERVICE_UNAVAILABLE');
    again.req.destroy();
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));
  });

  it('reserves JSON_MEMORY_PER_BYTE per byte of a JSON body (bytes, text and parsed value are held at once), at most the whole budget', async () => {
    const config = { MAX_REQUEST_BYTES: 200_000, UPLOAD_BUDGET_BYTES: 300_000 };
    stack = await createTestStack(config);
    const uploads = new UploadBudget(config.UPLOAD_BUDGET_BYTES);
    const port = await serve(stack.appWith({ config: { ...TEST_CONFIG, ...config }, uploads }));
    const json = { 'Content-Type': 'application/json' };
    const small = sendUnfinished(port, '/v1/jobs', { ...json, 'Content-Length': '50000' });
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(50_000 * JSON_MEMORY_PER_BYTE));
    // 50 KB of JSON more would be 200 KB of memory more: over the budget.
    expectError(await sendUnfinished(port, '/v1/jobs', { ...json, 'Content-Length': '50000' }).answer, 503, 'SERVICE_UNAVAILABLE');
    small.req.destroy();
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));
    // The largest JSON body alone takes the whole budget, and is taken.
    const largest = sendUnfinished(port, '/v1/jobs', { ...json, 'Content-Length': '150000' });
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(config.UPLOAD_BUDGET_BYTES));
    largest.req.destroy();
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));
  });
});

describe('server timeouts', () => {
  const timeouts: ServerTimeouts = { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 200 };
  const SLOW_TEST_MS = 15_000;

  it('cuts a stalled upload with 408 once the request timeout passes, releases its budget, and answers others meanwhile', async () => {
    stack = await createTestStack();
    const uploads = new UploadBudget(TEST_CONFIG.UPLOAD_BUDGET_BYTES);
    const port = await serve(stack.appWith({ uploads }), timeouts);
    const stalled = rawConnection(port);
    const started = Date.now();
    stalled.socket.write('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"images":["');
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(1000 * JSON_MEMORY_PER_BYTE));
    // Another client is served while the stalled one holds its connection.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const other = await request(`http://127.0.0.1:${port}`).post('/v1/jobs').attach('image', await fixtures.digit(2), 'two.png');
    expect(other.status).toBe(202);
    let cut = false;
    void stalled.closed.then(() => (cut = true));
    expect(cut).toBe(false);

    await stalled.closed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(timeouts.requestTimeoutMs - 50);
    expect(elapsed).toBeLessThan(timeouts.requestTimeoutMs * 4);
    expect(stalled.received()).toMatch(/^HTTP\/1\.1 408 /);
    await vi.waitFor(() => expect(uploads.inFlightBytes).toBe(0));
  }, SLOW_TEST_MS);

  it('cuts a client that stalls in its headers with 408 once the headers timeout passes', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app, timeouts);
    const slow = rawConnection(port);
    const started = Date.now();
    slow.socket.write('POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: applic');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await slow.closed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(timeouts.headersTimeoutMs - 50);
    // Node sweeps for timed-out connections every CONNECTIONS_CHECK_INTERVAL_MS (its default would be 30 s).
    expect(elapsed).toBeLessThan(timeouts.headersTimeoutMs + CONNECTIONS_CHECK_INTERVAL_MS * 3);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  }, SLOW_TEST_MS);

  it('closes an idle keep-alive connection after the keep-alive timeout, well before Node\'s default of 5 s', async () => {
    stack = await createTestStack();
    const port = await serve(stack.app, timeouts);
    const idle = rawConnection(port);
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await vi.waitFor(() => expect(idle.received()).toMatch(/^HTTP\/1\.1 200 /));
    const answered = Date.now();
    await idle.closed;
    expect(Date.now() - answered).toBeLessThan(timeouts.headersTimeoutMs * 2);
  }, SLOW_TEST_MS);

  it('refuses timeouts that break Node rules', () => {
    const server = createServer();
    expect(() => applyServerTimeouts(server, { headersTimeoutMs: 2000, requestTimeoutMs: 1000, keepAliveTimeoutMs: 100 })).toThrow(/requestTimeoutMs/);
    expect(() => applyServerTimeouts(server, { headersTimeoutMs: 1000, requestTimeoutMs: 1000, keepAliveTimeoutMs: 1000 })).toThrow(/keepAliveTimeoutMs/);
  });
});
