import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, testRedisUrl } from '@digitq/test-utils';
import { ensureRedis, reasonNotToStart } from './ensure-redis.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('ensureRedis', () => {
  it('uses a Redis that answers and starts nothing', async () => {
    const found = await ensureRedis(testRedisUrl(), '/nonexistent/never-created');
    expect(found).toEqual({ url: testRedisUrl(), own: null });
  });

  it('starts its own redis-server with append-only persistence when none answers on loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'digitq-launcher-redis-'));
    dirs.push(dir);
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = await ensureRedis(url, dir);
    try {
      expect(started.own).not.toBeNull();
      const client = new Redis(started.url);
      await client.set('accepted-job', '1');
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      await client.quit();
    } finally {
      await started.own?.stop();
    }
    expect(readdirSync(dir)).toContain('appendonlydir');
  });

  it('starts a server only for plain loopback URLs', () => {
    expect(reasonNotToStart('redis://127.0.0.1:6390')).toBeNull();
    expect(reasonNotToStart('redis://localhost')).toBeNull();
    expect(reasonNotToStart('redis://redis.internal:6379')).toMatch(/start it, or point REDIS_URL/);
    expect(reasonNotToStart('redis://:secret@127.0.0.1:6379')).toMatch(/credentials/);
    expect(reasonNotToStart('redis://127.0.0.1:6379/3')).toMatch(/database/);
  });
});
