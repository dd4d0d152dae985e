/**
 * What the use cases work with, built once by createApp. Each use case takes
 * the part it needs (`Pick<IntakeDeps, ...>`), so its signature says what it
 * touches and a test can hand it just that.
 */
import type { Redis } from 'ioredis';
import type { FeedbackStore, IdempotencyKeys, InferenceJobs, TrainingJobs } from '@digitq/jobs';
import type { ModelRegistry } from '@digitq/registry';
import type { WebhookDeliveryLog, WebhookUrlGuard } from '@digitq/webhooks';
import type { PreprocessImages } from './preprocess.ts';

export interface IntakeDeps {
  jobs: InferenceJobs;
  trainings: TrainingJobs;
  registry: ModelRegistry;
  /** Image bytes -> model inputs (imaging's preprocessDigitImages, or a stub in tests). */
  preprocess: PreprocessImages;
  /** Refuses webhook URLs that point into private networks or do not resolve (SSRF). */
  webhookGuard: WebhookUrlGuard;
  /** A job's webhook delivery attempts. */
  deliveries: WebhookDeliveryLog;
  /** Users' corrections of answers (POST /v1/jobs/:id/feedback). */
  feedback: FeedbackStore;
  /** Where a creation is remembered under its Idempotency-Key. */
  idempotency: IdempotencyKeys;
  /** Where workers' heartbeats are read (QUEUE_PREFIX on this connection). */
  redis: Redis;
  prefix: string;
  /** How long predictDigit waits for its job (PREDICT_TIMEOUT_MS). */
  predictTimeoutMs: number;
  /** Aborted at shutdown: a wait for a job ends at once with the job as it is. */
  shutdown?: AbortSignal;
}
