/**
 * Integration-test harness: the real stack (Redis from the vitest global
 * setup, BullMQ queue and events, InferenceJobs) under a unique key prefix,
 * served by createApp, plus a stand-in worker that returns well-formed
 * results so the API's contract can be tested without TensorFlow.
 * close() removes every key of the prefix and closes every connection.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker, type Job, type Processor, type Queue } from 'bullmq';
import type { Express } from 'express';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { expect } from 'vitest';
import { QUEUE_NAMES, type InferenceJobData, type InferenceResult } from '@digitq/contracts';
import { CancelRequests, FeedbackStore, InferenceJobs, JobWaiter, TrainingJobs, createQueue, createQueueEvents, createRedisConnection } from '@digitq/jobs';
import { ModelRegistry } from '@digitq/registry';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { createLogger } from '@digitq/service';
import { deleteKeysWithPrefix, expectNoRedisConnectionsNamed, testRedisUrl } from '@digitq/test-utils';
import { WebhookDeliveryLog, WebhookUrlGuard } from '@digitq/webhooks';
import { createApp, type AppConfig, type AppDeps } from '../src/app.ts';

export const TEST_CONFIG: AppConfig = {
  MAX_IMAGE_BYTES: 64 * 1024,
  MAX_IMAGES_PER_JOB: 3,
  PREDICT_TIMEOUT_MS: 10_000,
  // Open (no API keys, no admin credentials), no rate limit, a queue limit no test reaches unless it lowers it.
  API_KEYS: undefined,
  ADMIN_API_KEY: undefined,
  ADMIN_USER: undefined,
  ADMIN_PASSWORD: undefined,
  BULL_BOARD_READ_ONLY: true,
  MAX_QUEUED_JOBS: 10_000,
  RATE_LIMIT_PER_S: 0,
  IDEMPOTENCY_TTL_S: 600,
  REDIS_COMMAND_TIMEOUT_MS: 3000,
  // The defaults: far above what the small test limits above let a body be.
  MAX_REQUEST_BYTES: 64 * 1024 * 1024,
  UPLOAD_BUDGET_BYTES: 192 * 1024 * 1024,
};

const RESULT_TTL_S = 600;
/** Small, so a test can reach it. */
export const FEEDBACK_MAX_PER_OWNER = 5;

export interface TestStack {
  app: Express;
  /** Another app over the same stack, with some of its dependencies replaced. */
  appWith(overrides: Partial<AppDeps>): Express;
  jobs: InferenceJobs;
  trainings: TrainingJobs;
  /** The registry, over a temporary models folder of the stack's own. */
  registry: ModelRegistry;
  /** Corrections, bounded at FEEDBACK_MAX_PER_OWNER, copied to a temporary folder of the stack's own. */
  feedback: FeedbackStore;
  queue: ReturnType<typeof createQueue>;
  /** The inference, training and webhooks queues (bull-board, /metrics). */
  queues: Queue[];
  redis: Redis;
  prefix: string;
  /** Webhook URLs on loopback (test receivers) are allowed, as with WEBHOOK_ALLOW_PRIVATE=true. */
  webhooks: AppDeps['webhooks'];
  /** Runs a BullMQ worker on the stack's queue until close(). */
  startWorker(processor: Processor<InferenceJobData, InferenceResult>): Promise<Worker>;
  expectNothingEnqueued(): Promise<void>;
  close(): Promise<void>;
}

/** What a real worker returns: one confident prediction of `digit` per image. */
export function fakeResult(job: Job<InferenceJobData>, digit = 5): InferenceResult {
  const probabilities = Array.from({ length: 10 }, (_, d) => (d === digit ? 0.991 : 0.001));
  return {
    predictions: job.data.images.map(() => ({ prediction: digit, confidence: 0.991, probabilities })),
    model: { name: 'digitnet', version: 'v1' },
    batch_images: job.data.images.length,
    worker: 'test-worker',
  };
}


export interface TestStackOptions {
  /** Another Redis than the shared one of the run (e.g. one the test stops and restarts). */
  redisUrl?: string;
}

export async function createTestStack(config: Partial<AppConfig> = {}, options: TestStackOptions = {}): Promise<TestStack> {
  const prefix = `test-api-${randomUUID()}`;
  const redisUrl = options.redisUrl ?? testRedisUrl();
  // Every connection of the stack (duplicates inherit the name) is named after the prefix, so close() can prove none is left open.
  const redis = createRedisConnection(redisUrl, { connectionName: prefix });
  const retention = { resultTtlS: RESULT_TTL_S, maxCount: 1000 };
  const queue = createQueue(QUEUE_NAMES.inference, redis, prefix, retention);
  const queues = [queue, createQueue(QUEUE_NAMES.training, redis, prefix, retention), createQueue(QUEUE_NAMES.webhooks, redis, prefix, retention)];
  const events = createQueueEvents(QUEUE_NAMES.inference, redis, prefix);
  await events.waitUntilReady();
  const jobs = new InferenceJobs({
    queue,
    redis,
    prefix,
    cancelRequests: new CancelRequests(redis, prefix, QUEUE_NAMES.inference, RESULT_TTL_S),
    waiter: new JobWaiter(events),
    resultTtlS: RESULT_TTL_S,
    defaultModel: 'digitnet',
  });
  const webhooks = { guard: new WebhookUrlGuard({ allowPrivate: true }), deliveries: new WebhookDeliveryLog(redis, prefix, RESULT_TTL_S) };
  const trainings = new TrainingJobs({ queue: queues[1]!, cancelRequests: new CancelRequests(redis, prefix, QUEUE_NAMES.training, RESULT_TTL_S) });
  const modelsDir = mkdtempSync(join(tmpdir(), 'digitq-api-models-'));
  const registry = new ModelRegistry(redis, prefix, modelsDir);
  const feedbackDir = mkdtempSync(join(tmpdir(), 'digitq-api-feedback-'));
  const feedback = new FeedbackStore(redis, prefix, { maxPerOwner: FEEDBACK_MAX_PER_OWNER, dir: feedbackDir });
  const deps: AppDeps = {
    config: { ...TEST_CONFIG, ...config },
    logger: createLogger('api-test', 'silent'),
    jobs,
    redis,
    prefix,
    queues,
    webhooks,
    trainings,
    registry,
    feedback,
  };
  const app = createApp(deps);
  const workers: Worker[] = [];

  return {
    app,
    appWith: (overrides) => createApp({ ...deps, ...overrides }),
    jobs,
    trainings,
    registry,
    feedback,
    queue,
    queues,
    redis,
    prefix,
    webhooks,
    async startWorker(processor) {
      const worker = new Worker<InferenceJobData, InferenceResult>(QUEUE_NAMES.inference, processor, { connection: redis, prefix });
      workers.push(worker);
      await worker.waitUntilReady();
      return worker;
    },
    async expectNothingEnqueued() {
      const counts = await queue.getJobCounts();
      expect(Object.values(counts).reduce((sum, n) => sum + n, 0)).toBe(0);
      expect(await redis.exists(`${prefix}:${QUEUE_NAMES.inference}:owner:anonymous`)).toBe(0);
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await events.close();
      for (const each of queues) {
        await each.obliterate({ force: true });
        await each.close();
      }
      await deleteKeysWithPrefix(redis, prefix);
      await redis.quit();
      rmSync(modelsDir, { recursive: true, force: true });
      rmSync(feedbackDir, { recursive: true, force: true });
      await expectNoRedisConnectionsNamed(redisUrl, prefix);
    },
  };
}

/** Image fixtures drawn in the test (no files on disk). */
export const fixtures = {
  digit: (digit: number, format: 'png' | 'jpeg' | 'gif' = 'png') => renderDigitImage({ digit, format }),
  /** White paper, no ink: decodes fine, but there is no digit on it. */
  blank: () => sharp({ create: { width: 120, height: 120, channels: 3, background: '#ffffff' } }).png().toBuffer(),
  /** The first half of a PNG: a valid signature and header, then nothing. */
  truncated: async () => {
    const png = await renderDigitImage({ digit: 3 });
    return png.subarray(0, Math.floor(png.length / 2));
  },
  text: () => Buffer.from('this is a note, not a picture of a digit\n'),
};
