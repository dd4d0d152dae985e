/**
 * The queues and their default job options: retries with exponential
 * backoff, and bounded retention of finished jobs (by age and by count) so
 * Redis memory stays flat while results remain readable for the TTL.
 */
import { Queue, QueueEvents, type ConnectionOptions, type DefaultJobOptions, type Telemetry } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from '@digitq/contracts';

export interface RetentionOptions {
  /** Seconds a finished job stays readable. */
  resultTtlS: number;
  /** Most finished jobs kept per queue and outcome, whatever their age. */
  maxCount: number;
}

/** Transient failures (a worker died mid-job, Redis hiccup) are retried; bad input fails at once via UnrecoverableError. */
export const INFERENCE_ATTEMPTS = 3;
export const INFERENCE_BACKOFF_MS = 500;

export function defaultJobOptions(retention: RetentionOptions): DefaultJobOptions {
  return {
    attempts: INFERENCE_ATTEMPTS,
    backoff: { type: 'exponential', delay: INFERENCE_BACKOFF_MS },
    removeOnComplete: { age: retention.resultTtlS, count: retention.maxCount },
    removeOnFail: { age: retention.resultTtlS, count: retention.maxCount },
  };
}

export interface QueueOptions {
  /**
   * For producers a request waits on (the API), with a createCommandConnection
   * client: the Queue never waits for Redis's first connection (BullMQ's
   * skipWaitingForReady, meant for adding jobs from HTTP endpoints), so while
   * Redis has never been reached its calls fail at once instead of running
   * after their request gave up. That also skips BullMQ's Redis version check
   * (its INFO would fail the same way); workers still check the version.
   */
  failFast?: boolean;
}

/** The tracer name BullMQ's spans are recorded under (the same as @digitq/service's TRACER_NAME). */
const BULLMQ_TRACER_NAME = 'digitq';

/**
 * BullMQ's OpenTelemetry adapter, for every Queue and Worker: a producer span
 * per add whose context travels in the job (opts.telemetry.metadata), and a
 * consumer span per processing, a child of it, in which the processor runs.
 * Over the global OpenTelemetry API, so a no-op until startTelemetry
 * (@digitq/service) registers a tracer provider.
 */
export function queueTelemetry(): Telemetry {
  return new BullMQOtel({ tracerName: BULLMQ_TRACER_NAME });
}

export function createQueue(name: QueueName, connection: Redis, prefix: string, retention: RetentionOptions, options: QueueOptions = {}): Queue {
  const failFast = options.failFast ? { skipWaitingForReady: true, skipVersionCheck: true } : {};
  return new Queue(name, { connection, prefix, defaultJobOptions: defaultJobOptions(retention), telemetry: queueTelemetry(), ...failFast });
}

/**
 * QueueEvents blocks on XREAD, so it needs a connection of its own, which
 * BullMQ creates (and closes): a duplicate of an ioredis `connection` (whose
 * options must then suit blocking commands: no command timeout, see
 * createRedisConnection), or one from connection options such as `{ url }`.
 */
export function createQueueEvents(name: QueueName, connection: Redis | ConnectionOptions, prefix: string): QueueEvents {
  return new QueueEvents(name, { connection, prefix });
}

export { QUEUE_NAMES };
