import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';

/** How long a CLI waits for Redis before going on without it. */
const REDIS_PROBE_TIMEOUT_MS = 2000;

/** CLI logs go to stderr so stdout carries only the command's result. */
export function createCliLogger(name: string, level: string): Logger {
  return pino({ name, level }, pino.destination(2));
}

export function exitOnError(run: Promise<void>, log: Logger): void {
  run.then(
    () => process.exit(0),
    (error: unknown) => {
      log.error({ err: error }, error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}

/**
 * A Redis client when Redis answers now, else null after one attempt (no
 * reconnects, no offline queue): commands that also work without Redis
 * say what they do instead (`withoutRedis`, logged as a warning).
 */
export async function connectRedisIfReachable(
  options: { url: string; commandTimeoutMs: number; connectionName: string },
  log: Logger,
  withoutRedis: string,
): Promise<Redis | null> {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: REDIS_PROBE_TIMEOUT_MS,
    commandTimeout: options.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectionName: options.connectionName,
  });
  // ioredis also emits what connect() rejects with; the rejection is handled below.
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (error) {
    // The reason only: the URL may carry credentials.
    log.warn({ reason: error instanceof Error ? error.message : String(error) }, `Redis not reachable: ${withoutRedis}`);
    redis.disconnect();
    return null;
  }
}
