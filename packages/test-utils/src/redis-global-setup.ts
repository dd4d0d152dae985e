/** vitest globalSetup: one real Redis for the whole run; tests read its URL with inject('redisUrl'). */
import type { TestProject } from 'vitest/node';
import { startRedisServer, type RunningRedis } from './redis-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let redis: RunningRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
}

export async function teardown(): Promise<void> {
  await redis?.stop();
}
