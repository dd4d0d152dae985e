import { Redis } from 'ioredis';
import { expect } from 'vitest';

const CHECK_TIMEOUT_MS = 2000;
const CHECK_INTERVAL_MS = 20;

/**
 * Fails the test if any Redis connection whose client name starts with
 * `prefix` is still open (after a short grace for closes in flight): a test
 * must not leave a Queue, Worker or connection behind.
 */
export async function expectNoRedisConnectionsNamed(redisUrl: string, prefix: string): Promise<void> {
  const probe = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const deadline = Date.now() + CHECK_TIMEOUT_MS;
    for (;;) {
      const list = (await probe.client('LIST')) as string;
      const open = list.split('\n').filter((line) => line.includes(` name=${prefix}`));
      if (open.length === 0) return;
      if (Date.now() > deadline) expect(open, `Redis connections named ${prefix}* left open`).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, CHECK_INTERVAL_MS));
    }
  } finally {
    await probe.quit();
  }
}

const SCAN_COUNT = 500;

/** Deletes every key under `prefix:` (what a test's queues, indexes and logs left behind). */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', SCAN_COUNT);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
