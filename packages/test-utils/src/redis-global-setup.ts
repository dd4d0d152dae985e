/** vitest globalSetup: one real Redis for the whole run; tests get its URL from testRedisUrl(). */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RunningRedis } from '@digitq/service';
import { REDIS_URL_KEY } from './test-redis-url.ts';

let redis: RunningRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
  (project.provide as (key: string, value: string) => void)(REDIS_URL_KEY, redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
