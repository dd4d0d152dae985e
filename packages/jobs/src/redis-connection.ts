import { Redis, type RedisOptions } from 'ioredis';

/**
 * An ioredis client as BullMQ wants it: `maxRetriesPerRequest: null` so
 * blocking commands wait out a Redis restart instead of failing jobs.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}
