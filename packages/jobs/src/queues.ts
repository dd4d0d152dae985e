/**
 * The queues and their default job options: retries with exponential
 * backoff, and bounded retention of finished jobs (by age and by count) so
 * Redis memory stays flat while results remain readable for the TTL.
 */
import { Queue, QueueEvents, type DefaultJobOptions } from 'bullmq';
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

export function createQueue(name: QueueName, connection: Redis, prefix: string, retention: RetentionOptions): Queue {
  return new Queue(name, { connection, prefix, defaultJobOptions: defaultJobOptions(retention) });
}

/** QueueEvents blocks on XREAD, so BullMQ gives it its own duplicate of `connection` (and closes it). */
export function createQueueEvents(name: QueueName, connection: Redis, prefix: string): QueueEvents {
  return new QueueEvents(name, { connection, prefix });
}

export { QUEUE_NAMES };
