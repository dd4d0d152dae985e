/** The webhook state kept in Redis: the generated secret and the delivery log. */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WebhookAttempt } from '@digitq/contracts';
import { createRedisConnection } from '@digitq/jobs';
import { testRedisUrl } from '@digitq/test-utils';
import { DELIVERY_LOG_MAX_ENTRIES, WebhookDeliveryLog } from './delivery-log.ts';
import { WebhookSecrets } from './secrets.ts';
import { generateWebhookSecret } from './signing.ts';

let redis: Redis;
let prefix: string;
beforeEach(() => {
  prefix = `test-webhook-state-${randomUUID()}`;
  redis = createRedisConnection(testRedisUrl());
});
afterEach(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('WebhookSecrets', () => {
  it('uses WEBHOOK_SECRET when set, and stores nothing', async () => {
    const configured = [generateWebhookSecret(), generateWebhookSecret()];
    expect(await new WebhookSecrets(redis, prefix, configured).current()).toEqual({ secrets: configured, generated: false });
    expect(await redis.exists(`${prefix}:webhooks:secret`)).toBe(0);
  });

  it('otherwise generates one secret that every process agrees on, kept in Redis', async () => {
    const [api, workerA, workerB] = [0, 1, 2].map(() => new WebhookSecrets(redis, prefix, undefined));
    const seen = await Promise.all([api!.current(), workerA!.current(), workerB!.current()]);
    expect(new Set(seen.map((s) => s.secrets[0])).size).toBe(1);
    expect(seen[0]).toEqual({ secrets: [await redis.get(`${prefix}:webhooks:secret`)], generated: true });
    expect(seen[0]!.secrets[0]).toMatch(/^whsec_/);
    expect(await api!.current()).toEqual(seen[0]);
  });
});

describe('WebhookDeliveryLog', () => {
  const attempt = (n: number): WebhookAttempt => ({
    event: 'job.completed',
    webhook_id: 'job.job.completed',
    attempt: n,
    at: new Date(n * 1000).toISOString(),
    status_code: 500,
    duration_ms: 3,
    error: 'receiver answered 500',
    outcome: 'retrying',
  });

  it('lists attempts oldest first, keeps the newest, and expires with the job', async () => {
    const log = new WebhookDeliveryLog(redis, prefix, 120);
    expect(await log.list('job')).toEqual([]);
    for (let n = 1; n <= DELIVERY_LOG_MAX_ENTRIES + 5; n++) await log.append('job', attempt(n));
    const entries = await log.list('job');
    expect(entries).toHaveLength(DELIVERY_LOG_MAX_ENTRIES);
    expect(entries[0]).toEqual(attempt(6));
    expect(entries.at(-1)).toEqual(attempt(DELIVERY_LOG_MAX_ENTRIES + 5));
    const ttl = await redis.ttl(`${prefix}:webhooks:log:job`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(await log.list('other-job')).toEqual([]);
  });
});
