/**
 * Training jobs as clients see them: submit, read, cancel. The training
 * itself runs in a worker started with `--queues training`; progress and
 * per-epoch history travel as BullMQ job progress.
 */
import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import {
  JOB_NAMES,
  trainingJobProgressSchema,
  type TrainingJobData,
  type TrainingRequest,
  type TrainingResult,
  type TrainingView,
  type WebhookRequest,
} from '@digitq/contracts';
import type { CancelRequests } from './cancel-requests.ts';
import { jobLifecycleOf, loadOwnedJob, requestCancel } from './owned-job.ts';

/** A training that dies with its worker is retried (resuming from its last epoch checkpoint on the same machine). */
export const TRAINING_ATTEMPTS = 2;

type TrainingJob = Job<TrainingJobData, TrainingResult>;

export interface TrainingJobsDeps {
  queue: Queue;
  cancelRequests: CancelRequests;
}

/**
 * The training as clients see it, from the BullMQ job and its state; pure, so
 * the API and the worker that emits training.completed build the same body.
 */
export function trainingViewOf(job: Job<TrainingJobData, TrainingResult>, state: string, canceledAt: string | null): TrainingView {
  const lifecycle = jobLifecycleOf(job, state, canceledAt);
  const progress = trainingJobProgressSchema.safeParse(job.progress);
  const result = lifecycle.status === 'succeeded' ? job.returnvalue : null;
  const { owner: _owner, webhook: _webhook, submitted_at: _at, ...request } = job.data;
  const { error, ...times } = lifecycle;
  return {
    ...times,
    request,
    progress: progress.success ? progress.data.progress : null,
    history: result?.history ?? (progress.success ? progress.data.history : []),
    model: result
      ? { ...result.model, test_accuracy: result.test_accuracy, promoted: result.promoted, ...(result.promotion_reasons && { promotion_reasons: result.promotion_reasons }) }
      : null,
    error,
  };
}

export class TrainingJobs {
  constructor(private readonly deps: TrainingJobsDeps) {}

  /** `id`: the job's id (an Idempotency-Key's reserved id), a fresh UUID when omitted; submitting one id twice makes one job. */
  async submit(request: TrainingRequest, owner: string, webhook: WebhookRequest | null, id: string = randomUUID()): Promise<TrainingView> {
    const { webhook: _url, webhook_events_filter: _events, ...settings } = request;
    const data: TrainingJobData = { ...settings, owner, webhook, submitted_at: new Date().toISOString() };
    const job = (await this.deps.queue.add(JOB_NAMES.trainModel, data, {
      jobId: id,
      attempts: TRAINING_ATTEMPTS,
      backoff: { type: 'fixed', delay: 1000 },
    })) as TrainingJob;
    return trainingViewOf(job, 'waiting', null);
  }

  async get(id: string, owner: string | null): Promise<TrainingView | null> {
    const found = await loadOwnedJob<TrainingJob>(this.deps.queue, this.deps.cancelRequests, id, owner);
    return found && trainingViewOf(found.job, found.state, found.canceledAt);
  }

  /** Stops a queued training at once, a running one at its next batch; nothing it wrote is kept. */
  async cancel(id: string, owner: string | null): Promise<TrainingView | null> {
    const current = await this.get(id, owner);
    if (!current) return null;
    if ((await requestCancel(current, id, this.deps.cancelRequests, 'training')) === 'already-canceled') return current;
    return this.get(id, owner);
  }
}
