/**
 * Webhook deliveries (Standard Webhooks): the body a receiver gets, the job
 * on the `webhooks` queue that carries it, and the per-job delivery log
 * clients read at GET /v1/jobs/:id/webhooks.
 */
import { z } from 'zod';
import { webhookEventSchema } from './inference.ts';
import { jobViewSchema } from './job-view.ts';

/** The spec's recommended envelope. `timestamp` is when the event happened, the same on every attempt. */
export const webhookPayloadSchema = z.object({
  type: webhookEventSchema,
  timestamp: z.string(),
  /** job.started / job.completed: the JobView, as GET /v1/jobs/:id returns it. */
  data: z.unknown(),
});
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

export const jobWebhookPayloadSchema = webhookPayloadSchema.extend({
  type: webhookEventSchema.extract(['job.started', 'job.completed']),
  data: jobViewSchema,
});
export type JobWebhookPayload = z.infer<typeof jobWebhookPayloadSchema>;

/** One delivery on the `webhooks` queue: one event for one receiver, retried as a BullMQ job. */
export const webhookDeliveryJobDataSchema = z.object({
  /** The `webhook-id` header: the same on every attempt, so receivers can drop duplicates. */
  webhook_id: z.string().min(1),
  url: z.string().min(1),
  /** The job the event is about; keys the delivery log. */
  job_id: z.string().min(1),
  payload: webhookPayloadSchema,
});
export type WebhookDeliveryJobData = z.infer<typeof webhookDeliveryJobDataSchema>;

export const webhookDeliveryResultSchema = z.object({ status_code: z.number().int(), attempt: z.number().int() });
export type WebhookDeliveryResult = z.infer<typeof webhookDeliveryResultSchema>;

/**
 * What one attempt came to: `delivered` (2xx), `retrying` (failed, another
 * attempt is scheduled), `failed` (the last attempt failed, or the URL was
 * refused), `gone` (410: the receiver asked to stop).
 */
export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'retrying', 'failed', 'gone'] as const;
export const webhookAttemptOutcomeSchema = z.enum(WEBHOOK_ATTEMPT_OUTCOMES);
export type WebhookAttemptOutcome = z.infer<typeof webhookAttemptOutcomeSchema>;

export const webhookAttemptSchema = z.object({
  event: webhookEventSchema,
  webhook_id: z.string(),
  /** 1 for the first attempt of this event. */
  attempt: z.number().int().positive(),
  /** When the attempt started (ISO). */
  at: z.string(),
  /** The receiver's HTTP status; null when none came (network error, timeout, refused URL). */
  status_code: z.number().int().nullable(),
  duration_ms: z.number().int().nonnegative(),
  error: z.string().nullable(),
  outcome: webhookAttemptOutcomeSchema,
});
export type WebhookAttempt = z.infer<typeof webhookAttemptSchema>;
