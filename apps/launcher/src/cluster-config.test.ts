/** REDIS_CLUSTER_NODES and the hash tag it demands of QUEUE_PREFIX, as loadConfig reads them. */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@digitq/config';
import { freePort } from '@digitq/test-utils';
import { ensureRedis } from './ensure-redis.ts';

const NODES = '10.0.0.1:7000, 10.0.0.2:7000,redis-3.internal:7001';

describe('REDIS_CLUSTER_NODES', () => {
  it('is unset by default: one Redis at REDIS_URL, any prefix', () => {
    expect(loadConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(loadConfig({ QUEUE_PREFIX: 'digitq' }).QUEUE_PREFIX).toBe('digitq');
  });

  it('lists host:port seeds, with a hash-tagged prefix', () => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: NODES, QUEUE_PREFIX: '{digitq}' });
    expect(config.REDIS_CLUSTER_NODES).toEqual(['10.0.0.1:7000', '10.0.0.2:7000', 'redis-3.internal:7001']);
    expect(loadConfig({ REDIS_CLUSTER_NODES: NODES, QUEUE_PREFIX: 'prod{digitq}' }).QUEUE_PREFIX).toBe('prod{digitq}');
  });

  it.each(['digitq', '{}digitq', 'digitq{', 'digitq}'])('refuses the prefix %j, saying what to set', (prefix) => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: NODES, QUEUE_PREFIX: prefix })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: NODES, QUEUE_PREFIX: prefix })).toThrow(/QUEUE_PREFIX: with REDIS_CLUSTER_NODES set it must carry a Redis Cluster hash tag, e\.g\. \{digitq\}/);
  });

  it('refuses a node without a port', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1', QUEUE_PREFIX: '{digitq}' })).toThrow(/REDIS_CLUSTER_NODES: each node is host:port/);
  });
});

describe('the launcher with REDIS_CLUSTER_NODES', () => {
  it('starts no redis-server of its own, even for a loopback REDIS_URL nothing answers at', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'digitq-cluster-launcher-'));
    try {
      const url = `redis://127.0.0.1:${await freePort()}`;
      const ensured = await ensureRedis(url, join(dir, 'redis'), ['127.0.0.1:7000']);
      expect(ensured).toEqual({ url, own: null });
      expect(existsSync(join(dir, 'redis'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
