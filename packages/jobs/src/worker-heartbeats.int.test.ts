import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { WorkerHeartbeat } from '@digitq/contracts';
import { testRedisUrl } from '@digitq/test-utils';
import { listLiveWorkers, publishWorkerHeartbeat, removeWorkerHeartbeat, startWorkerHeartbeat } from './worker-heartbeats.ts';

const redis = new Redis(testRedisUrl());
const prefixes: string[] = [];
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.del(`${prefix}:workers`);
  }
});
afterAll(async () => {
  await redis.quit();
});

function newPrefix(): string {
  const prefix = `test-hb-${randomUUID()}`;
  prefixes.push(prefix);
  return prefix;
}

function heartbeat(id: string, models = [{ name: 'digitnet', version: 'v1' }]): WorkerHeartbeat {
  const at = new Date().toISOString();
  return { id, hostname: 'h', pid: 1, device: 'cpu', backend: 'cpu', queues: ['inference'], models, started_at: at, at };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_TIMEOUT_MS = 5000;

/** Polls until `read()` gives `expected` (timing-independent on a busy machine). */
async function eventually<T>(read: () => Promise<T>, expected: T): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    const value = await read();
    try {
      expect(value).toEqual(expected);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(10);
    }
  }
}

describe('worker heartbeats', () => {
  it('publishes under <prefix>:workers:<id> with a TTL and lists the live ones by id', async () => {
    const prefix = newPrefix();
    await publishWorkerHeartbeat(redis, prefix, heartbeat('b'));
    await publishWorkerHeartbeat(redis, prefix, heartbeat('a'), 5000);
    expect(JSON.parse((await redis.get(`${prefix}:workers:a`))!)).toMatchObject({ id: 'a', models: [{ name: 'digitnet', version: 'v1' }] });
    const ttl = await redis.pttl(`${prefix}:workers:a`);
    expect(ttl).toBeGreaterThan(4000);
    expect(ttl).toBeLessThanOrEqual(5000);
    expect((await listLiveWorkers(redis, prefix)).map((w) => w.id)).toEqual(['a', 'b']);
  });

  it('drops expired, removed and malformed heartbeats', async () => {
    const prefix = newPrefix();
    await publishWorkerHeartbeat(redis, prefix, heartbeat('short'), 50);
    await publishWorkerHeartbeat(redis, prefix, heartbeat('gone'));
    await publishWorkerHeartbeat(redis, prefix, heartbeat('kept'));
    await publishWorkerHeartbeat(redis, prefix, heartbeat('broken'));
    await redis.set(`${prefix}:workers:broken`, '{"id": 3}');
    await removeWorkerHeartbeat(redis, prefix, 'gone');
    await sleep(100);
    expect((await listLiveWorkers(redis, prefix)).map((w) => w.id)).toEqual(['kept']);
  });

  it('the loop writes at once and on every interval with fresh content, and removes the heartbeat on stop', async () => {
    const prefix = newPrefix();
    let models: WorkerHeartbeat['models'] = [];
    const loop = startWorkerHeartbeat({ redis, prefix, read: () => heartbeat('w', models), onError: (e) => expect.fail(String(e)), intervalMs: 30, ttlMs: 1000 });
    const loadedModels = async () => (await listLiveWorkers(redis, prefix))[0]?.models;
    await eventually(loadedModels, []);
    models = [{ name: 'digitnet', version: 'v2' }];
    await eventually(loadedModels, [{ name: 'digitnet', version: 'v2' }]);
    await loop.stop();
    expect(await listLiveWorkers(redis, prefix)).toEqual([]);
    expect(await redis.exists(`${prefix}:workers:w`)).toBe(0);
  });

  it('the loop reports a failed write and keeps going', async () => {
    const prefix = newPrefix();
    const errors: unknown[] = [];
    let calls = 0;
    const loop = startWorkerHeartbeat({
      redis,
      prefix,
      read: () => {
        calls++;
        if (calls === 1) throw new Error('not yet');
        return heartbeat('w');
      },
      onError: (e) => errors.push(e),
      intervalMs: 20,
    });
    await eventually(async () => (await listLiveWorkers(redis, prefix)).length, 1);
    await loop.stop();
    expect(errors).toHaveLength(1);
    expect(calls).toBeGreaterThan(1);
  });
});
