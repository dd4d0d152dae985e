/**
 * Webhooks as one subscriber of a worker's job events (JobEventSource in
 * @digitq/jobs): each event a job's webhook asked for becomes a delivery on
 * the `webhooks` queue, for every job kind.
 *
 * Known gap: a worker that dies between a job's state change and the enqueue
 * (a few ms) loses that event. Re-emission is idempotent (delivery ids are
 * per job and event), so a sweep could close it later.
 */
import type { Job } from 'bullmq';
import type { WebhookEvent } from '@digitq/contracts';
import type { JobEventSource, JobKind } from '@digitq/jobs';
import type { Logger } from '@digitq/service';
import { enqueueWebhookEvent, type WebhookEventsDeps, type WebhookSubscription } from './events.ts';

/** The webhook event each job kind's lifecycle event becomes. */
const WEBHOOK_EVENTS: Record<JobKind, { started: WebhookEvent; finished: WebhookEvent }> = {
  inference: { started: 'job.started', finished: 'job.completed' },
  training: { started: 'job.started', finished: 'training.completed' },
};

export interface JobWebhooksDeps extends WebhookEventsDeps {
  log: Logger;
}

function webhookOf(job: Job): WebhookSubscription | null {
  return (job.data as { webhook?: WebhookSubscription | null }).webhook ?? null;
}

export function deliverJobWebhooks(source: JobEventSource<unknown>, deps: JobWebhooksDeps): void {
  const deliver = (job: Job, event: WebhookEvent, data: unknown, sequence?: number) => {
    const webhook = webhookOf(job);
    if (!webhook?.events.includes(event)) return;
    enqueueWebhookEvent(deps, { jobId: job.id!, webhook, event, data, sequence }).catch((error: unknown) =>
      deps.log.error({ err: error, job: job.id, event }, 'could not enqueue webhook event'),
    );
  };
  source.on('started', ({ kind, job, view }) => deliver(job, WEBHOOK_EVENTS[kind].started, view));
  source.on('finished', ({ kind, job, view }) => deliver(job, WEBHOOK_EVENTS[kind].finished, view));
  source.on('progress', ({ kind, job, progress, sequence }) => {
    if (kind === 'training') deliver(job, 'training.progress', { id: job.id, ...(progress as object) }, sequence);
  });
}
