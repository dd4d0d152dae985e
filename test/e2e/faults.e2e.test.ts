/**
 * The front door under attack and failure, against the real API and worker
 * processes on loopback: hostile bodies, a barrage of maximal uploads, stalled
 * clients, a Redis outage, shutdown with Redis gone, SSRF forms, and secrets
 * in logs. Each test states the promise it checks; docs/reliability.md cites them.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { System, sleep } from './system.ts';

type Json = Record<string, any>;
const MIB = 1024 * 1024;

/** The documented bound on the API's memory with default limits (docs/reliability.md). */
const API_RSS_BOUND_MIB = 400;
const ALICE_KEY = `sk_alice_${randomUUID().replaceAll('-', '')}`;
const BOB_KEY = `sk_bob_${randomUUID().replaceAll('-', '')}`;
const AUTH = { Authorization: `Bearer ${ALICE_KEY}` };
/** Short timeouts so stalled clients and the outage are seen in seconds; the rest are the defaults. */
const REQUEST_TIMEOUT_MS = 3000;
const REDIS_COMMAND_TIMEOUT_MS = 1000;
const SHUTDOWN_TIMEOUT_MS = 3000;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  json: Json;
}

/**
 * One request over its own connection: `body` is sent (a Buffer, or chunks
 * from an async source), or with `stallAfter` only that much of it before the
 * client goes quiet. Settles with the server's answer, or rejects when the
 * connection is closed without one.
 */
function send(port: number, path: string, headers: OutgoingHttpHeaders, body: Buffer | AsyncIterable<Buffer>, options: { stallAfter?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? (JSON.parse(text) as Json) : {} });
        req.destroy();
      });
    });
    void (async () => {
      if (Buffer.isBuffer(body)) {
        if (options.stallAfter !== undefined) req.write(body.subarray(0, options.stallAfter));
        else req.end(body);
        return;
      }
      for await (const chunk of body) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(() => req.destroy());
  });
}

/** `megabytes` of zeros, gzip-compressed as a stream (a ~600x decompression bomb, never held whole). */
async function* gzipBomb(megabytes: number): AsyncGenerator<Buffer> {
  const gzip = createGzip({ level: 9 });
  const zeros = Buffer.alloc(MIB);
  const feed = (async () => {
    for (let i = 0; i < megabytes; i++) if (!gzip.write(zeros)) await new Promise((r) => gzip.once('drain', r));
    gzip.end();
  })();
  for await (const chunk of gzip) yield chunk as Buffer;
  await feed;
}

function multipart(files: { field: string; name: string; bytes: Buffer }[]): { body: Buffer; contentType: string } {
  const boundary = `----digitq${randomUUID()}`;
  const parts = files.map((f) =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.field}"; filename="${f.name}"\r\nContent-Type: image/png\r\n\r\n`),
      f.bytes,
      Buffer.from('\r\n'),
    ]),
  );
  return { body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('the front door under abuse and failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-faults-'));
  const secretFile = join(dir, 'webhook-secret');
  let redis: RunningRedis;
  let system: System;
  let port: number;
  let png: Buffer;

  beforeAll(async () => {
    redis = await startRedisServer({ dir, appendOnly: true });
    system = await new System({
      workers: 1,
      redisUrl: redis.url,
      env: {
        API_KEYS: `alice:${ALICE_KEY},bob:${BOB_KEY}`,
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        HTTP_HEADERS_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
        REDIS_COMMAND_TIMEOUT_MS: String(REDIS_COMMAND_TIMEOUT_MS),
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        WEBHOOK_SECRET_FILE: secretFile,
      },
    }).start();
    port = Number(new URL(system.baseUrl).port);
    png = await renderDigitImage({ digit: 5, width: 280, height: 280, format: 'png' });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function expectReady(): Promise<void> {
    const res = await fetch(`${system.baseUrl}/readyz`);
    expect(res.status, system.logs()).toBe(200);
  }

  async function predict(): Promise<Answer> {
    const { body, contentType } = multipart([{ field: 'file', name: '5.png', bytes: png }]);
    return send(port, '/predict', { ...AUTH, 'Content-Type': contentType, 'Content-Length': body.length }, body);
  }

  it('hostile bodies get a JSON 4xx and the API stays up: a 600 MB gzip bomb, a 540 MB JSON body, 64 x 10 MB of files, JSON 20,000 deep', async () => {
    const bomb = await send(port, '/v1/jobs', { ...AUTH, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', 'Transfer-Encoding': 'chunked' }, gzipBomb(600));
    expect([bomb.status, bomb.json.error?.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);

    const huge = await send(port, '/v1/jobs', { ...AUTH, 'Content-Type': 'application/json', 'Content-Length': 540 * MIB }, Buffer.from('{"images":["'), { stallAfter: 12 });
    expect([huge.status, huge.json.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);

    const files = multipart(Array.from({ length: 64 }, (_, i) => ({ field: 'image', name: `${i}.png`, bytes: Buffer.alloc(10 * MIB - 1024, i) })));
    const upload = await send(port, '/v1/jobs', { ...AUTH, 'Content-Type': files.contentType, 'Content-Length': files.body.length }, files.body).catch((error: Error) => error);
    // Refused from its Content-Length: the answer may arrive while the client is still sending, then the connection closes.
    if (!(upload instanceof Error)) expect([upload.status, upload.json.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);

    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const nested = await send(port, '/v1/jobs', { ...AUTH, 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID(), 'Content-Length': deep.length }, Buffer.from(deep));
    expect([nested.status, nested.json.error?.code]).toEqual([400, 'VALIDATION_FAILED']);

    expect(system.api.child.exitCode).toBeNull();
    await expectReady();
    expect((await predict()).json.prediction).toBe(5);
  }, 120_000);

  it(`a barrage of maximal uploads keeps the API under ${API_RSS_BOUND_MIB} MiB, refuses what does not fit with 503 + Retry-After, and its memory comes back`, async ({ annotate }) => {
    const pid = system.api.child.pid!;
    const baseline = rssMiB(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
    // Six 10 MB files make the largest body MAX_REQUEST_BYTES (64 MiB) allows; random bytes, so they are read whole and refused as images.
    const maximal = multipart(Array.from({ length: 6 }, (_, i) => ({ field: 'image', name: `${i}.png`, bytes: Buffer.alloc(10 * MIB, 7 + i) })));
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        send(port, '/v1/jobs', { ...AUTH, 'Content-Type': maximal.contentType, 'Content-Length': maximal.body.length }, maximal.body).catch((error: Error) => error),
      ),
    );
    clearInterval(sampler);
    const statuses = answers.map((a) => (a instanceof Error ? 'closed' : a.status));
    // Every upload is either read and judged (415: not an image) or refused before it is read (503, Retry-After).
    expect(statuses.every((s) => s === 415 || s === 503 || s === 'closed'), JSON.stringify(statuses)).toBe(true);
    expect(statuses).toContain(415);
    expect(statuses).toContain(503);
    const refused = answers.find((a): a is Answer => !(a instanceof Error) && a.status === 503);
    expect(refused?.headers['retry-after']).toBe('1');
    expect(refused?.json.error?.code).toBe('SERVICE_UNAVAILABLE');
    expect(peak, `peak RSS ${peak.toFixed(0)} MiB (baseline ${baseline.toFixed(0)})`).toBeLessThan(API_RSS_BOUND_MIB);
    // Back near the baseline once the uploads are answered (memory-reclaim.ts collects the upload buffers).
    let after = rssMiB(pid);
    for (let i = 0; i < 50 && after > baseline + 100; i++) {
      await sleep(200);
      after = rssMiB(pid);
    }
    expect(after, `RSS after ${after.toFixed(0)} MiB, baseline ${baseline.toFixed(0)}, peak ${peak.toFixed(0)}`).toBeLessThan(baseline + 100);
    await annotate(`API RSS: baseline ${baseline.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, after ${after.toFixed(0)} MiB; answers ${JSON.stringify(statuses)}`);
    await expectReady();
  }, 120_000);

  it('a stalled upload is cut at the request timeout and does not delay anyone else', async () => {
    const { body, contentType } = multipart([{ field: 'file', name: '5.png', bytes: png }]);
    const started = Date.now();
    const stalled = send(port, '/predict', { ...AUTH, 'Content-Type': contentType, 'Content-Length': body.length }, body, { stallAfter: 100 }).catch((error: Error) => error);
    const others = await Promise.all(Array.from({ length: 3 }, () => predict()));
    expect(others.map((a) => a.json.prediction)).toEqual([5, 5, 5]);
    expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS);
    const cut = await stalled;
    const waited = Date.now() - started;
    // Node answers 408 when it can, or closes the connection.
    if (!(cut instanceof Error)) expect(cut.status).toBe(408);
    expect(waited).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 500);
    expect(waited).toBeLessThan(REQUEST_TIMEOUT_MS + 5000);
  }, 60_000);

  it('webhook URLs that embed a non-public IPv4 in IPv6 are refused at submit, before anything connects', async () => {
    const before = await system.queue.getJobCounts();
    for (const url of ['http://[::ffff:0:7f00:1]/', 'http://[::ffff:0:a9fe:a9fe]/', 'http://[::ffff:127.0.0.1]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://[2002:a00:1::]/', 'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/']) {
      const res = await fetch(`${system.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ images: [png.toString('base64')], webhook: url }),
      });
      expect([url, res.status, ((await res.json()) as Json).error?.code]).toEqual([url, 422, 'WEBHOOK_URL_REFUSED']);
    }
    expect(await system.queue.getJobCounts()).toEqual(before);
  });

  it('Redis down: fast 503s with Retry-After, /readyz flips, everything recovers by itself, and an idempotent retry makes one job', async () => {
    const key = randomUUID();
    const submit = () =>
      fetch(`${system.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json', 'Idempotency-Key': key },
        body: JSON.stringify({ images: [png.toString('base64')] }),
      });
    const exited = new Promise((resolve) => redis.process.once('exit', resolve));
    redis.process.kill('SIGKILL');
    await exited;

    const started = Date.now();
    const refused = await submit();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toEqual(expect.stringMatching(/^\d+$/));
    expect(((await refused.json()) as Json).error.code).toBe('SERVICE_UNAVAILABLE');
    const read = await fetch(`${system.baseUrl}/v1/jobs/${randomUUID()}`, { headers: AUTH });
    expect(read.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2 * REDIS_COMMAND_TIMEOUT_MS + 2000);
    expect((await fetch(`${system.baseUrl}/readyz`)).status).toBe(503);

    redis = await startRedisServer({ port: redis.port, dir, appendOnly: true });
    let ready = 0;
    for (let i = 0; i < 100 && ready !== 200; i++) {
      await sleep(200);
      ready = (await fetch(`${system.baseUrl}/readyz`)).status;
    }
    expect(ready, system.logs()).toBe(200);

    // The client retries its request with the same key until it is accepted: one job, whatever the first attempt did.
    let accepted: Json | null = null;
    for (let attempt = 0; attempt < 60 && accepted === null; attempt++) {
      const res = await submit();
      if (res.status === 202) accepted = (await res.json()) as Json;
      else await sleep(500);
    }
    expect(accepted?.id).toEqual(expect.any(String));
    const again = await submit();
    // A replay answers with the job as it is now: 200 once it has finished.
    expect([200, 202]).toContain(again.status);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as Json).id).toBe(accepted!.id);
    const list = (await (await fetch(`${system.baseUrl}/v1/jobs?limit=100`, { headers: AUTH })).json()) as Json;
    expect(list.data.filter((job: Json) => job.id === accepted!.id)).toHaveLength(1);
    expect((await predict()).json.prediction).toBe(5);
  }, 120_000);

  it('logs hold no API key and no webhook secret; the generated secret is in a 0600 file', async () => {
    // Keys in every place a client might put them.
    await fetch(`${system.baseUrl}/v1/jobs?api_key=${ALICE_KEY}`, { headers: { 'X-Api-Key': BOB_KEY } });
    await fetch(`${system.baseUrl}/v1/jobs/${randomUUID()}?token=${BOB_KEY}`, { headers: { Authorization: `Bearer ${BOB_KEY}`, Cookie: `session=${ALICE_KEY}` } });
    await fetch(`${system.baseUrl}/v1/jobs`, { method: 'POST', headers: { Authorization: `Bearer ${ALICE_KEY}x` } });
    const secret = readFileSync(secretFile, 'utf8').trim();
    expect(secret).toMatch(/^whsec_/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    await sleep(200);
    const logs = [system.api, ...system.workers].flatMap((p) => p.lines).join('\n');
    expect(logs).toContain(secretFile);
    for (const secretValue of [ALICE_KEY, BOB_KEY, secret, secret.slice('whsec_'.length)]) expect(logs.includes(secretValue)).toBe(false);
  });

  it('SIGTERM with Redis unreachable exits within SHUTDOWN_TIMEOUT_MS, saying what it abandoned', async () => {
    const exited = new Promise((resolve) => redis.process.once('exit', resolve));
    redis.process.kill('SIGKILL');
    await exited;
    await sleep(500);
    const started = Date.now();
    system.api.child.kill('SIGTERM');
    const { code } = await system.api.exited;
    expect(Date.now() - started).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 2000);
    expect(code).not.toBeNull();
    expect(system.api.lines.join('\n')).toMatch(/shut(ting)? ?down/i);
    redis = await startRedisServer({ port: redis.port, dir, appendOnly: true });
  }, 60_000);
});
