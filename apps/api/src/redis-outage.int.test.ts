/**
 * The API process through a Redis outage, against a redis-server of the
 * test's own (append-only, every write flushed) that the test kills, freezes
 * and restarts: submits and reads answer 503 SERVICE_UNAVAILABLE with
 * Retry-After within the command timeout, the API recovers by itself, a
 * submit retried with the same Idempotency-Key makes one job, nothing answered
 * 503 becomes a job later, and the outage is logged once, then its end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES } from '@digitq/contracts';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort, startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { parsedLines, startApiProcess, untilConnected, type ApiProcess } from '../test/api-process.ts';

const COMMAND_TIMEOUT_MS = 1000;
/** Beyond the command timeout: the HTTP round trip and a busy 2-core machine. */
const ANSWER_MARGIN_MS = 1500;
const RECOVERY_TIMEOUT_MS = 10_000;
const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let redisPort: number;
let redisDir: string;
let redis: RunningRedis;
let api: ApiProcess;
let jobBody: string;
const prefix = `outage-${randomUUID().slice(0, 8)}`;

const startRedis = async () => {
  redis = await startRedisServer({ port: redisPort, dir: redisDir, appendOnly: true, appendFsync: 'always' });
};

async function killRedis(): Promise<void> {
  const exited = new Promise((resolve) => redis.process.once('exit', resolve));
  redis.process.kill('SIGKILL');
  await exited;
}

async function timed(path: string, init?: RequestInit): Promise<{ response: Response; ms: number; body: any }> {
  const started = Date.now();
  const response = await fetch(`${api.baseUrl}${path}`, init);
  const body = await response.json();
  return { response, ms: Date.now() - started, body };
}

const submit = (key?: string) =>
  timed('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) }, body: jobBody });

function expectUnavailable(answer: { response: Response; ms: number; body: any }): void {
  expect(answer.response.status).toBe(503);
  expect(answer.body.error.code).toBe('SERVICE_UNAVAILABLE');
  expect(Number(answer.response.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(answer.ms).toBeLessThan(COMMAND_TIMEOUT_MS + ANSWER_MARGIN_MS);
}

/** Every job in the inference queue, whatever its state, read with a connection of the test's own. */
async function allJobIds(queuePrefix = prefix): Promise<string[]> {
  const queue = new Queue(QUEUE_NAMES.inference, { connection: { url: redis.url }, prefix: queuePrefix });
  try {
    return (await queue.getJobs()).map((job) => job.id!).sort();
  } finally {
    await queue.close();
  }
}

beforeAll(async () => {
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'digitq-api-outage-'));
  await startRedis();
  const png = await renderDigitImage({ digit: 7 });
  jobBody = JSON.stringify({ images: [`data:image/png;base64,${png.toString('base64')}`] });
  api = await startApiProcess({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    // The per-key rate limit counts in Redis too: it must load its script although it starts before Redis is connected.
    RATE_LIMIT_PER_S: '1000',
    WEBHOOK_SECRET,
    MODELS_DIR: mkdtempSync(join(tmpdir(), 'digitq-api-outage-models-')),
  });
  await untilConnected(api);
}, 60_000);

afterAll(async () => {
  await api?.stop();
  redis.process.kill('SIGCONT');
  await redis.stop();
  rmSync(redisDir, { recursive: true, force: true });
});

describe('the API while Redis is down', () => {
  it('answers 503 fast, recovers by itself, keeps one job per Idempotency-Key, and creates nothing it answered 503 for', async () => {
    const before = await submit();
    expect(before.response.status).toBe(202);
    // Counted: the rate limit's store works (a store error would let the request through without these headers).
    expect(before.response.headers.get('ratelimit')).toMatch(/; r=\d+;/);
    const jobId = before.body.id as string;

    await killRedis();
    const refused: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await submit(i === 0 ? 'retried-across-the-outage' : undefined);
      expectUnavailable(answer);
      refused.push(answer.response.headers.get('x-request-id')!);
    }
    expectUnavailable(await timed(`/v1/jobs/${jobId}`));
    expectUnavailable(await timed('/v1/jobs'));
    expect((await timed('/readyz')).response.status).toBe(503);

    await startRedis();
    // (b) No restart of the API: its connections come back on their own.
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    let read = await timed(`/v1/jobs/${jobId}`);
    while (read.response.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      read = await timed(`/v1/jobs/${jobId}`);
    }
    expect(read.response.status).toBe(200);
    expect(read.body.id).toBe(jobId);

    // (c) The refused submit, retried with its key, makes one job; retried again, it is replayed.
    const retried = await submit('retried-across-the-outage');
    expect(retried.response.status).toBe(202);
    // Redis restarted without the rate limit's script: the store loaded it again.
    expect(retried.response.headers.get('ratelimit')).toMatch(/; r=\d+;/);
    const again = await submit('retried-across-the-outage');
    expect(again.response.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(retried.body.id);

    // (d) The five refused submits never became jobs, even later.
    await new Promise((r) => setTimeout(r, 500));
    expect(await allJobIds()).toEqual([jobId, retried.body.id].sort());

    const lines = parsedLines(api.lines);
    expect(lines.filter((l) => String(l.msg).startsWith('redis connection lost'))).toHaveLength(1);
    const restored = lines.filter((l) => String(l.msg).startsWith('redis connection restored after'));
    expect(restored).toHaveLength(1);
    expect(restored[0]!.failed_attempts).toBeGreaterThan(0);
    // The 503s are the outage's, already logged: warnings without stacks, one line per request.
    const refusedLines = lines.filter((l) => refused.includes((l.req as { id?: string } | undefined)?.id ?? ''));
    expect(refusedLines).toHaveLength(refused.length);
    for (const line of refusedLines) {
      expect(line.level).toBe(40);
      expect(JSON.stringify(line)).not.toContain('"stack"');
    }
  });

  it('answers 503 within the command timeout while Redis is up but does not answer, and recovers when it does', async () => {
    const before = await submit();
    expect(before.response.status).toBe(202);
    redis.process.kill('SIGSTOP');
    try {
      expectUnavailable(await timed(`/v1/jobs/${before.body.id}`));
      const frozen = await submit();
      expectUnavailable(frozen);
      expect(frozen.ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
    } finally {
      redis.process.kill('SIGCONT');
    }
    const read = await timed(`/v1/jobs/${before.body.id}`);
    expect(read.response.status).toBe(200);
  });

  it('answers 503 fast when Redis was never reachable since the API started, and serves once it is', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'digitq-api-late-redis-'));
    const latePrefix = `late-${randomUUID().slice(0, 8)}`;
    const late = await startApiProcess({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      QUEUE_PREFIX: latePrefix,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      WEBHOOK_SECRET,
      MODELS_DIR: mkdtempSync(join(tmpdir(), 'digitq-api-outage-models-')),
    });
    const previous = { api, redis };
    try {
      api = late;
      expectUnavailable(await submit());
      expectUnavailable(await timed('/v1/jobs/some-id'));
      redis = await startRedisServer({ port, dir, appendOnly: true, appendFsync: 'always' });
      const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
      let accepted = await submit();
      while (accepted.response.status !== 202 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        accepted = await submit();
      }
      expect(accepted.response.status).toBe(202);
      await new Promise((r) => setTimeout(r, 500));
      expect(await allJobIds(latePrefix)).toEqual([accepted.body.id]);
    } finally {
      await late.stop();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
      ({ api, redis } = previous);
    }
  });
});
