/**
 * Idempotency keys across a real Redis outage: a redis-server of the test's
 * own (append-only, every write flushed) killed or frozen in the middle of a
 * creation, then restarted. Whatever the creation's fate, the retry with the
 * same key ends with exactly one job, under the id the key reserved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError, QUEUE_NAMES } from '@digitq/contracts';
import { freePort, startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { IdempotencyKeys, type IdempotentSteps } from './idempotency.ts';
import { createQueue } from './queues.ts';
import { createCommandConnection } from './redis-connection.ts';

const COMMAND_TIMEOUT_MS = 500;
const RECONNECT_WITHIN_MS = 5000;
const scope = { owner: 'alice', key: 'outage-key', fingerprint: 'f1' };

let port: number;
let dir: string;
let server: RunningRedis;
let redis: Redis;
let queue: Queue;
let store: IdempotencyKeys;

const startServer = async () => {
  server = await startRedisServer({ port, dir, appendOnly: true, appendFsync: 'always' });
};

async function killServer(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const exited = new Promise((resolve) => server.process.once('exit', resolve));
  server.process.kill(signal);
  await exited;
}

async function untilReady(): Promise<void> {
  const deadline = Date.now() + RECONNECT_WITHIN_MS;
  while (redis.status !== 'ready') {
    if (Date.now() > deadline) throw new Error(`no reconnect within ${RECONNECT_WITHIN_MS} ms (status ${redis.status})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const jobSteps = (before?: () => Promise<void>, after?: () => Promise<void>): IdempotentSteps => ({
  async create(id) {
    await before?.();
    await queue.add('classify-digits', { n: 1 }, { jobId: id });
    await after?.();
    return id;
  },
  exists: async (id) => (await queue.getJob(id)) !== undefined,
});

const jobIds = async () => (await queue.getJobs(['waiting', 'prioritized', 'delayed'])).map((job) => job.id);
const pendingReservedId = async () => (JSON.parse((await redis.get(store.redisKey(scope.owner, scope.key)))!) as { reserved_id: string }).reserved_id;

beforeAll(async () => {
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'digitq-idem-outage-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await queue.close();
  redis.disconnect();
  // A frozen server must wake up to take its SIGTERM.
  if (server.process.exitCode === null && server.process.signalCode === null) server.process.kill('SIGCONT');
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  dir = mkdtempSync(join(tmpdir(), 'digitq-idem-outage-'));
});

async function setUp(abandonAfterMs: number): Promise<void> {
  await startServer();
  redis = createCommandConnection(server.url, { commandTimeoutMs: COMMAND_TIMEOUT_MS });
  redis.on('error', () => undefined);
  queue = createQueue(QUEUE_NAMES.inference, redis, 'outage', { resultTtlS: 600, maxCount: 100 });
  queue.on('error', () => undefined);
  await queue.waitUntilReady();
  store = new IdempotencyKeys(redis, 'outage', { ttlS: 600, abandonAfterMs, waitMs: 200, pollIntervalMs: 20 });
}

describe('an Idempotency-Key across a Redis outage', () => {
  it('Redis dies after the job was added but before the key recorded it: the retry replays that job', async () => {
    await setUp(60_000);
    const failed = await store.once(scope, jobSteps(undefined, () => killServer())).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    await startServer();
    await untilReady();
    const retry = await store.once(scope, jobSteps());
    expect(retry.replayed).toBe(true);
    expect(await jobIds()).toEqual([retry.id]);
  });

  it('Redis dies before the job was added: the claim is left behind, and once abandoned the retry creates the job under its reserved id', async () => {
    await setUp(1500);
    const failed = await store.once(scope, jobSteps(() => killServer())).catch((e: unknown) => e);
    expect((failed as Error).message).toContain("Stream isn't writeable");
    await startServer();
    await untilReady();
    const reserved = await pendingReservedId();
    // Still young: its creator might be running, so the retry is told to come back.
    expect(((await store.once(scope, jobSteps()).catch((e: unknown) => e)) as AppError).code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await jobIds()).toEqual([]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await store.once(scope, jobSteps())).toEqual({ id: reserved, replayed: false });
    expect(await store.once(scope, jobSteps())).toEqual({ id: reserved, replayed: true });
    expect(await jobIds()).toEqual([reserved]);
  });

  it('Redis freezes during the add: the client is told it failed within the command timeout, Redis adds the job later anyway, and the retry replays it', async () => {
    await setUp(60_000);
    const started = Date.now();
    const failed = await store.once(scope, jobSteps(async () => void server.process.kill('SIGSTOP'))).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect((failed as Error).message).toBe('Command timed out');
    // The add times out, then the check whether it happened anyway times out too.
    expect(elapsed).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS);
    expect(elapsed).toBeLessThan(3 * COMMAND_TIMEOUT_MS + 500);
    server.process.kill('SIGCONT');
    await untilReady();
    const reserved = await pendingReservedId();
    // The ambiguous answer: the add was sent before the timeout, so Redis ran it once it woke up.
    expect(await jobIds()).toEqual([reserved]);
    expect(await store.once(scope, jobSteps())).toEqual({ id: reserved, replayed: true });
    expect(await jobIds()).toEqual([reserved]);
  });
});
