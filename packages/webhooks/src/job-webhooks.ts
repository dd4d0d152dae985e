/**
 * job.started and job.completed for inference jobs, emitted by the worker
 * that runs them, from its BullMQ Worker events:
 *
 * - `active`: the job was taken. job.started, unless a cancel request is
 *   pending (a job canceled while queued is failed on pickup and never runs).
 * - `completed`: succeeded. job.completed.
 * - `failed`: job.completed once the failure is final (the job is in the
 *   failed set: last attempt, UnrecoverableError, canceled, stalled too often
 *   — BullMQ fails such a job through a worker too, so it arrives here).
 *
 * Why here: the Worker emits these right after the state change in Redis,
 * with the job (result, failedReason, timestamps) in hand, so the body is
 * built without reading the job back, and only processes that run jobs do
 * the work. The API never sees a job finish; a QueueEvents listener would
 * make every process read every event of the queue.
 *
 * Known gap: a worker that dies between the state change and the enqueue
 * (a few ms) loses that event. Re-emission is idempotent (delivery ids are
 * per job and event), so a sweep could close it later.
 */
import type { Job, Worker } from 'bullmq';
import type { InferenceJobData, InferenceResult, JobWebhookEvent } from '@digitq/contracts';
import { jobViewOf, type CancelRequests } from '@digitq/jobs';
import type { Logger } from '@digitq/service';
import { enqueueWebhookEvent, type WebhookEventsDeps } from './events.ts';

export interface JobWebhooksDeps extends WebhookEventsDeps {
  cancelRequests: CancelRequests;
  defaultModel: string;
  log: Logger;
}

type InferenceJob = Job<InferenceJobData, InferenceResult>;

function wants(job: InferenceJob, event: JobWebhookEvent): boolean {
  return job.data.webhook?.events.includes(event) ?? false;
}

export function emitJobWebhooks(worker: Worker<InferenceJobData, InferenceResult>, deps: JobWebhooksDeps): void {
  const emit = async (job: InferenceJob, event: JobWebhookEvent, state: string) => {
    const canceledAt = await deps.cancelRequests.requestedAt(job.id!);
    if (event === 'job.started' && canceledAt) return;
    const view = jobViewOf(job, state, canceledAt, deps.defaultModel);
    await enqueueWebhookEvent(deps, { jobId: job.id!, webhook: job.data.webhook, event, data: view });
  };
  // Worker listeners must not throw: a lost event is logged, the job itself is unaffected.
  const run = (job: InferenceJob, event: JobWebhookEvent, work: () => Promise<void>) => {
    if (!wants(job, event)) return;
    work().catch((error: unknown) => deps.log.error({ err: error, job: job.id, event }, 'could not enqueue webhook event'));
  };
  worker.on('active', (job) => run(job, 'job.started', () => emit(job, 'job.started', 'active')));
  worker.on('completed', (job) => run(job, 'job.completed', () => emit(job, 'job.completed', 'completed')));
  worker.on('failed', (job) => {
    if (!job) return;
    run(job, 'job.completed', async () => {
      // 'failed' fires for every failed attempt; only a job now in the failed set is done (retries sit in delayed or wait).
      if ((await job.getState()) === 'failed') await emit(job, 'job.completed', 'failed');
    });
  });
}
