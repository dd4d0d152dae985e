import { inject } from 'vitest';

export const REDIS_URL_KEY = 'redisUrl';

/** URL of the real Redis that the vitest global setup started for this run. */
export function testRedisUrl(): string {
  return (inject as unknown as (key: string) => string)(REDIS_URL_KEY);
}
