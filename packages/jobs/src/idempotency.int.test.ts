import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AppError } from '@digitq/contracts';
import { testRedisUrl } from '@digitq/test-utils';
import { IdempotencyKeys } from './idempotency.ts';

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

describe('IdempotencyKeys', () => {
  it('creates once, then replays the id for the same fingerprint and stores it with the TTL', async () => {
    const store = keys();
    let created = 0;
    const create = async () => `job-${++created}`;
    expect(await store.once(scope(), create)).toEqual({ id: 'job-1', replayed: false });
    expect(await store.once(scope(), create)).toEqual({ id: 'job-1', replayed: true });
    expect(created).toBe(1);
    const ttl = await redis.ttl(store.redisKey('alice', 'k1'));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it('throws IDEMPOTENCY_CONFLICT for another fingerprint under the same key', async () => {
    const store = keys();
    await store.once(scope('f1'), async () => 'job-1');
    const error = await store.once(scope('f2'), async () => 'job-2').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('lets concurrent requests wait for the one that claimed the key', async () => {
    const store = keys();
    let created = 0;
    const slowCreate = async () => {
      created++;
      await sleep(200);
      return 'job-slow';
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => store.once(scope(), slowCreate)));
    expect(created).toBe(1);
    expect(results.map((r) => r.id)).toEqual(Array(5).fill('job-slow'));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
  });

  it('answers a waiting request 409 with Retry-After when the first takes longer than waitMs', async () => {
    const store = keys({ waitMs: 100, pollIntervalMs: 10 });
    const first = store.once(scope(), async () => {
      await sleep(400);
      return 'job-1';
    });
    await sleep(20);
    const error = (await store.once(scope(), async () => 'job-2').catch((e: unknown) => e)) as AppError;
    expect(error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(error.message).toContain('still being processed');
    expect(error.details.headers).toEqual({ 'Retry-After': '1' });
    expect(await first).toEqual({ id: 'job-1', replayed: false });
  });

  it('releases the key when creation fails, so the next request creates', async () => {
    const store = keys();
    await expect(store.once(scope(), async () => Promise.reject(new Error('invalid')))).rejects.toThrow('invalid');
    expect(await redis.exists(store.redisKey('alice', 'k1'))).toBe(0);
    expect(await store.once(scope('f-other'), async () => 'job-2')).toEqual({ id: 'job-2', replayed: false });
  });

  it('lets a claim whose creator died lapse after pendingTtlMs', async () => {
    const store = keys({ pendingTtlMs: 100, waitMs: 1000, pollIntervalMs: 10 });
    await redis.set(store.redisKey('alice', 'k1'), JSON.stringify({ fingerprint: 'f1', id: null, claim: 'dead' }), 'PX', 100);
    expect(await store.once(scope(), async () => 'job-new')).toEqual({ id: 'job-new', replayed: false });
  });
});
