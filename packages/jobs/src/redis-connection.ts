import { Redis, type RedisOptions } from 'ioredis';

/**
 * An ioredis client as BullMQ wants it for Workers and QueueEvents:
 * `maxRetriesPerRequest: null` so blocking commands wait out a Redis restart
 * instead of failing jobs.
 */
export function createRedisConnection(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
}

export interface CommandConnectionOptions {
  /** REDIS_COMMAND_TIMEOUT_MS: a command without an answer by then is rejected. */
  commandTimeoutMs: number;
  connectionName?: string;
}

/**
 * A client for commands a request waits on (the API's submits, reads,
 * idempotency keys; BullMQ Queues as producers, which BullMQ's "failing fast
 * when Redis is down" recommends), that fails fast and never runs a command
 * later than the caller was told it failed:
 *
 * - `enableOfflineQueue: false`: while disconnected a command is rejected at
 *   once instead of being queued and sent after the reconnect;
 * - `autoResendUnfulfilledCommands: false`: commands in flight when the
 *   connection dropped are not sent again after the reconnect;
 * - `maxRetriesPerRequest: 0`: they are rejected as soon as it drops;
 * - `commandTimeout`: a connected but unresponsive Redis rejects after
 *   `commandTimeoutMs`. Such a command was sent, so Redis may still run it:
 *   that answer is ambiguous, which Idempotency-Key covers for submits.
 *
 * Not for blocking commands (QueueEvents' XREAD, Workers): they outlast the
 * command timeout by design; they use createRedisConnection.
 */
export function createCommandConnection(url: string, options: CommandConnectionOptions): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    enableReadyCheck: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  });
}
