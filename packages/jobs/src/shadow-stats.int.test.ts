import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '@digitq/test-utils';
import { ShadowStats } from './shadow-stats.ts';

const redis = new Redis(testRedisUrl());
const prefixes: string[] = [];
const stats = (options = { resultTtlS: 3600, maxCount: 1000 }) => {
  const prefix = `test-shadow-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  return { prefix, shadow: new ShadowStats(redis, prefix, options) };
};

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

describe('ShadowStats', () => {
  it('counts jobs, images and agreement, medians of both latencies, and joins feedback on job and image', async () => {
    const { shadow } = stats();
    await shadow.record('digitnet', 'v2', { jobId: 'a', active: [7, 1], shadow: [7, 7], activeMs: 2, shadowMs: 10 });
    await shadow.record('digitnet', 'v2', { jobId: 'b', active: [3], shadow: [3], activeMs: 4, shadowMs: 30 });
    await shadow.record('digitnet', 'v2', { jobId: 'c', active: [0], shadow: [8], activeMs: 6, shadowMs: 20 });
    // Another version's records are its own.
    await shadow.record('digitnet', 'v3', { jobId: 'a', active: [7, 1], shadow: [1, 1], activeMs: 1, shadowMs: 1 });

    const feedback = [
      { job_id: 'a', index: 1, label: 7 }, // the shadow was right, the active wrong
      { job_id: 'c', index: 0, label: 0 }, // the active was right
      { job_id: 'c', index: 5, label: 0 }, // no such image: not joined
      { job_id: 'zzz', index: 0, label: 4 }, // not a shadowed job
    ];
    expect(await shadow.read('digitnet', 'v2', feedback)).toEqual({
      model: { name: 'digitnet', version: 'v2' },
      jobs: 3,
      images: 4,
      agreement: 2 / 4,
      latency_ms: { active_p50: 4, shadow_p50: 20 },
      feedback: { count: 2, active_correct: 1, shadow_correct: 1 },
    });
    expect((await shadow.read('digitnet', 'v3')).agreement).toBe(1 / 2);
    // Feedback may come as an async iterable (FeedbackStore.entries()).
    async function* entries() {
      yield* feedback;
    }
    expect((await shadow.read('digitnet', 'v2', entries())).feedback).toEqual({ count: 2, active_correct: 1, shadow_correct: 1 });
  });

  it('reads nothing for a version never shadowed', async () => {
    const { shadow } = stats();
    expect(await shadow.read('digitnet', 'v9', [{ job_id: 'a', index: 0, label: 1 }])).toEqual({
      model: { name: 'digitnet', version: 'v9' },
      jobs: 0,
      images: 0,
      agreement: null,
      latency_ms: { active_p50: null, shadow_p50: null },
      feedback: { count: 0, active_correct: 0, shadow_correct: 0 },
    });
  });

  it('keeps records as jobs are kept: at most maxCount, none older than resultTtlS, keys expiring after it', async () => {
    const { prefix, shadow } = stats({ resultTtlS: 60, maxCount: 3 });
    const now = Date.now();
    await shadow.record('digitnet', 'v2', { jobId: 'old', active: [1], shadow: [1], activeMs: 1, shadowMs: 1 }, now - 61_000);
    for (const jobId of ['j1', 'j2', 'j3', 'j4']) await shadow.record('digitnet', 'v2', { jobId, active: [2], shadow: [3], activeMs: 1, shadowMs: 1 }, now);
    const read = await shadow.read('digitnet', 'v2', [{ job_id: 'j1', index: 0, label: 2 }, { job_id: 'j4', index: 0, label: 2 }]);
    expect(read).toMatchObject({ jobs: 3, images: 3, agreement: 0, feedback: { count: 1, active_correct: 1, shadow_correct: 0 } });
    for (const part of ['images', 'latency']) {
      const ttl = await redis.ttl(`${prefix}:shadow:digitnet@v2:${part}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
    }
  });

  it('refuses a record whose two versions read different numbers of images', async () => {
    const { shadow } = stats();
    await expect(shadow.record('digitnet', 'v2', { jobId: 'x', active: [1, 2], shadow: [1], activeMs: 1, shadowMs: 1 })).rejects.toThrow(RangeError);
  });
});
