/**
 * Turning an event into a delivery job on the `webhooks` queue. Producers
 * (the inference worker, later the training worker) call
 * enqueueWebhookEvent; the webhook worker delivers. The delivery's BullMQ id
 * is derived from (job, event), so enqueueing the same event twice (a retried
 * job starting again, two processes reporting one finish) delivers it once.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_NAMES, PROGRESS_INTERVAL_MS, type WebhookDeliveryJobData, type WebhookEvent } from '@digitq/contracts';
import { WEBHOOK_BACKOFF_TYPE } from './retry.ts';


export interface WebhookSubscription {
  url: string;
  /** The events the client asked for (webhook_events_filter). */
  events: readonly WebhookEvent[];
}

export interface WebhookEventInput {
  /** The job the event is about. */
  jobId: string;
  /** The job's webhook; null (no webhook) enqueues nothing. */
  webhook: WebhookSubscription | null;
  event: WebhookEvent;
  /** The body's `data`: the JobView for job.* events. */
  data: unknown;
  /** training.progress only: a number that grows with progress (e.g. the step); it tells progress deliveries apart. */
  sequence?: number;
  /** When the event happened; default now. */
  at?: Date;
}

export interface WebhookEventsDeps {
  /** The `webhooks` queue. */
  queue: Queue;
  /** For the training.progress throttle. */
  redis: Redis;
  /** WEBHOOK_RETRY_SCHEDULE_MS: the delay before each attempt; its length is the number of attempts. */
  retryScheduleMs: readonly number[];
  /** training.progress deliveries per job at most this often (those in between are dropped); default PROGRESS_INTERVAL_MS. */
  progressIntervalMs?: number;
}

/** The delivery's BullMQ job id, which is also its `webhook-id`. */
export function webhookDeliveryId(jobId: string, event: WebhookEvent, sequence?: number): string {
  return sequence === undefined ? `${jobId}.${event}` : `${jobId}.${event}.${sequence}`;
}

/**
 * Enqueues the delivery of `input.event` if the job's webhook asked for it.
 * Resolves the delivery id, or null when nothing was enqueued (no webhook,
 * event filtered out, progress throttled).
 */
export async function enqueueWebhookEvent(deps: WebhookEventsDeps, input: WebhookEventInput): Promise<string | null> {
  const { webhook, event } = input;
  if (!webhook || !webhook.events.includes(event)) return null;
  let sequence: number | undefined;
  if (event === 'training.progress') {
    const intervalMs = deps.progressIntervalMs ?? PROGRESS_INTERVAL_MS;
    // A key that lives for one interval: whoever sets it first in that interval sends, across processes too.
    const open = await deps.redis.set(`${deps.queue.qualifiedName}:throttle:${input.jobId}`, '1', 'PX', intervalMs, 'NX');
    if (open === null) return null;
    sequence = input.sequence ?? Date.now();
  }
  const id = webhookDeliveryId(input.jobId, event, sequence);
  const data: WebhookDeliveryJobData = {
    webhook_id: id,
    url: webhook.url,
    job_id: input.jobId,
    payload: { type: event, timestamp: (input.at ?? new Date()).toISOString(), data: input.data },
  };
  const [firstDelayMs = 0] = deps.retryScheduleMs;
  await deps.queue.add(JOB_NAMES.deliverWebhook, data, {
    jobId: id,
    attempts: Math.max(1, deps.retryScheduleMs.length),
    backoff: { type: WEBHOOK_BACKOFF_TYPE },
    delay: firstDelayMs > 0 ? firstDelayMs : undefined,
  });
  return id;
}
