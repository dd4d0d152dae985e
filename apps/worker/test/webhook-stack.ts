/**
 * Integration-test harness for webhook delivery: real Redis (from the vitest
 * global setup) under a unique key prefix, the `webhooks` queue, and the
 * delivery worker built as main.ts builds it (processor, backoff strategy),
 * with the knobs a test turns (schedule, timeout, guard). Logs are captured.
 * close() removes every key of the prefix and proves no connection is left open.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { QUEUE_NAMES, type WebhookDeliveryJobData, type WebhookDeliveryResult } from '@digitq/contracts';
import { createQueue, createRedisConnection, queueTelemetry } from '@digitq/jobs';
import { deleteKeysWithPrefix, expectNoRedisConnectionsNamed, testRedisUrl } from '@digitq/test-utils';
import {
  WebhookDeliveryLog,
  WebhookSecrets,
  WebhookUrlGuard,
  enqueueWebhookEvent,
  generateWebhookSecret,
  webhookBackoffStrategy,
  type WebhookEventInput,
  type WebhookEventsDeps,
} from '@digitq/webhooks';
import { createWebhookProcessor } from '../src/processors/webhook.processor.ts';

export const RESULT_TTL_S = 600;
/** Fast stand-in for the Standard Webhooks schedule: 3 attempts, 100 ms then 200 ms apart. */
export const FAST_SCHEDULE_MS = [0, 100, 200] as const;

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface DeliveryWorkerOptions {
  retryScheduleMs?: readonly number[];
  retryAfterMaxMs?: number;
  timeoutMs?: number;
  guard?: WebhookUrlGuard;
}

export interface WebhookTestStack {
  prefix: string;
  redis: Redis;
  queue: ReturnType<typeof createQueue>;
  deliveries: WebhookDeliveryLog;
  /** Two secrets, as during a rotation; deliveries carry a signature for each. */
  secrets: readonly string[];
  logs: LogLine[];
  log: Logger;
  /** Producer deps for enqueueWebhookEvent with the fast schedule. */
  events: WebhookEventsDeps;
  enqueue(input: Partial<WebhookEventInput> & { url: string }): Promise<string | null>;
  startDeliveryWorker(options?: DeliveryWorkerOptions): Promise<Worker<WebhookDeliveryJobData, WebhookDeliveryResult>>;
  close(): Promise<void>;
}

export async function createWebhookTestStack(name = 'webhooks'): Promise<WebhookTestStack> {
  const prefix = `test-${name}-${randomUUID()}`;
  const redis = createRedisConnection(testRedisUrl(), { connectionName: prefix });
  const queue = createQueue(QUEUE_NAMES.webhooks, redis, prefix, { resultTtlS: RESULT_TTL_S, maxCount: 1000 });
  const deliveries = new WebhookDeliveryLog(redis, prefix, RESULT_TTL_S);
  const secrets = [generateWebhookSecret(), generateWebhookSecret()];
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line) as LogLine) });
  const events: WebhookEventsDeps = { queue, redis, retryScheduleMs: FAST_SCHEDULE_MS };
  const workers: Worker[] = [];

  return {
    prefix,
    redis,
    queue,
    deliveries,
    secrets,
    logs,
    log,
    events,
    enqueue: (input) =>
      enqueueWebhookEvent(events, {
        jobId: input.jobId ?? randomUUID(),
        webhook: 'webhook' in input ? (input.webhook ?? null) : { url: input.url, events: [input.event ?? 'job.completed'] },
        event: input.event ?? 'job.completed',
        data: input.data ?? { id: 'example' },
        sequence: input.sequence,
        at: input.at,
      }),
    async startDeliveryWorker(options = {}) {
      const retryScheduleMs = options.retryScheduleMs ?? FAST_SCHEDULE_MS;
      const processor = createWebhookProcessor({
        guard: options.guard ?? new WebhookUrlGuard({ allowPrivate: true }),
        secrets: new WebhookSecrets(redis, prefix, secrets),
        deliveries,
        timeoutMs: options.timeoutMs ?? 2000,
        log,
      });
      const worker = new Worker<WebhookDeliveryJobData, WebhookDeliveryResult>(QUEUE_NAMES.webhooks, processor, {
        connection: redis,
        prefix,
        concurrency: 4,
        telemetry: queueTelemetry(),
        settings: { backoffStrategy: webhookBackoffStrategy({ retryScheduleMs, retryAfterMaxMs: options.retryAfterMaxMs ?? 60_000 }) },
      });
      workers.push(worker);
      await worker.waitUntilReady();
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await queue.obliterate({ force: true });
      await queue.close();
      await deleteKeysWithPrefix(redis, prefix);
      await redis.quit();
      await expectNoRedisConnectionsNamed(testRedisUrl(), prefix);
    },
  };
}

/** Polls `read` until `done` holds for its value (or fails after `timeoutMs`). */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
