import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AppError } from '@digitq/contracts';
import { testRedisUrl } from '@digitq/test-utils';
import { IdempotencyKeys, type IdempotentSteps } from './idempotency.ts';

const redis = new Redis(testRedisUrl());
const prefixes: string[] = [];
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
});
afterAll(async () => {
  await redis.quit();
});

function keys(options: Partial<ConstructorParameters<typeof IdempotencyKeys>[2]> = {}): IdempotencyKeys {
  const prefix = `test-idem-${randomUUID()}`;
  prefixes.push(prefix);
  return new IdempotencyKeys(redis, prefix, { ttlS: 60, ...options });
}

const scope = (fingerprint = 'f1') => ({ owner: 'alice', key: 'k1', fingerprint });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resources as a BullMQ queue keeps jobs: by id, and creating an existing id again makes nothing new. */
function resourceStore(options: { delayMs?: number; failBefore?: boolean; failAfter?: boolean } = {}) {
  const created = new Set<string>();
  let calls = 0;
  const steps: IdempotentSteps = {
    async create(id) {
      calls++;
      if (options.delayMs) await sleep(options.delayMs);
      if (options.failBefore) throw new Error('invalid');
      created.add(id);
      if (options.failAfter) throw new Error('the reply was lost');
      return id;
    },
    exists: async (id) => created.has(id),
  };
  return { steps, created, calls: () => calls };
}

describe('IdempotencyKeys', () => {
  it('creates once, then replays the id for the same fingerprint and stores it with the TTL', async () => {
    const store = keys();
    const resources = resourceStore();
    const first = await store.once(scope(), resources.steps);
    expect(first.replayed).toBe(false);
    expect(await store.once(scope(), resources.steps)).toEqual({ id: first.id, replayed: true });
    expect(resources.calls()).toBe(1);
    expect([...resources.created]).toEqual([first.id]);
    const ttl = await redis.ttl(store.redisKey('alice', 'k1'));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('throws IDEMPOTENCY_CONFLICT for another fingerprint under the same key', async () => {
    const store = keys();
    await store.once(scope('f1'), resourceStore().steps);
    const error = await store.once(scope('f2'), resourceStore().steps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('lets concurrent requests wait for the one that claimed the key', async () => {
    const store = keys();
    const resources = resourceStore({ delayMs: 200 });
    const results = await Promise.all(Array.from({ length: 5 }, () => store.once(scope(), resources.steps)));
    expect(resources.calls()).toBe(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
  });

  it('answers a waiting request 409 with Retry-After when the first takes longer than waitMs', async () => {
    const store = keys({ waitMs: 100, pollIntervalMs: 10 });
    const slow = resourceStore({ delayMs: 400 });
    const first = store.once(scope(), slow.steps);
    await sleep(20);
    const error = (await store.once(scope(), resourceStore().steps).catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(error.message).toContain('still being processed');
    expect(error.details.retryAfterS).toBe(1);
    expect((await first).replayed).toBe(false);
  });

  it('releases the key when creation fails without creating, so the next request may use it for anything', async () => {
    const store = keys();
    await expect(store.once(scope(), resourceStore({ failBefore: true }).steps)).rejects.toThrow('invalid');
    expect(await redis.exists(store.redisKey('alice', 'k1'))).toBe(0);
    expect((await store.once(scope('f-other'), resourceStore().steps)).replayed).toBe(false);
  });

  it('keeps the resource when creation failed after making it (a lost reply): the retry replays it', async () => {
    const store = keys();
    const resources = resourceStore({ failAfter: true });
    await expect(store.once(scope(), resources.steps)).rejects.toThrow('the reply was lost');
    const [made] = [...resources.created];
    expect(await store.once(scope(), resources.steps)).toEqual({ id: made, replayed: true });
    expect(resources.calls()).toBe(1);
  });

  it('replays at once a claim whose creator created the resource but never recorded it', async () => {
    const store = keys({ waitMs: 5000 });
    const resources = resourceStore();
    resources.created.add('job-made');
    const pending = { fingerprint: 'f1', id: null, claim: 'dead', reserved_id: 'job-made', claimed_at: Date.now() };
    await redis.set(store.redisKey('alice', 'k1'), JSON.stringify(pending), 'EX', 60);
    const started = Date.now();
    expect(await store.once(scope(), resources.steps)).toEqual({ id: 'job-made', replayed: true });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(resources.calls()).toBe(0);
    expect(JSON.parse((await redis.get(store.redisKey('alice', 'k1')))!)).toEqual({ fingerprint: 'f1', id: 'job-made' });
  });

  it('takes over an abandoned claim that created nothing, under the id it reserved', async () => {
    const store = keys({ abandonAfterMs: 500, waitMs: 100, pollIntervalMs: 10 });
    const resources = resourceStore();
    const pending = { fingerprint: 'f1', id: null, claim: 'dead', reserved_id: 'job-reserved', claimed_at: Date.now() };
    await redis.set(store.redisKey('alice', 'k1'), JSON.stringify(pending), 'EX', 60);
    // Younger than abandonAfterMs: maybe still running, so the request waits and then is told to retry.
    const early = (await store.once(scope(), resources.steps).catch((e: unknown) => e)) as AppError;
    expect(early.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(resources.calls()).toBe(0);
    await sleep(500);
    expect(await store.once(scope(), resources.steps)).toEqual({ id: 'job-reserved', replayed: false });
    expect([...resources.created]).toEqual(['job-reserved']);
    expect(await store.once(scope(), resources.steps)).toEqual({ id: 'job-reserved', replayed: true });
  });

  it('lets a claim without a reserved id (written before ids were reserved) lapse with its TTL', async () => {
    const store = keys({ waitMs: 1000, pollIntervalMs: 10 });
    await redis.set(store.redisKey('alice', 'k1'), JSON.stringify({ fingerprint: 'f1', id: null, claim: 'dead' }), 'PX', 100);
    expect((await store.once(scope(), resourceStore().steps)).replayed).toBe(false);
  });
});
