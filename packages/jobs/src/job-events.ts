/**
 * One typed stream of job events per consuming worker, for every job kind:
 * `started` (taken by a worker, not canceled), `progress` (a training's step)
 * and `finished` (succeeded, or failed for good), each with the job's client
 * view. Webhooks, metrics and event streams subscribe here instead of hooking
 * BullMQ's Worker in several places (the shape of bullmq's WorkerListener).
 *
 * Emitted by the worker that runs the job, right after the state change in
 * Redis, with the job in hand: the view is built without reading it back, and
 * only processes that run jobs do this work. BullMQ says 'failed' for every
 * failed attempt; only a job now in the failed set is finished (retries sit in
 * delayed or wait), and that check lives here, once.
 */
import { EventEmitter } from 'node:events';
import type { Job, Worker } from 'bullmq';
import { msUntilDeadline, type InferenceJobData, type InferenceResult, type JobView, type TrainingJobData, type TrainingResult, type TrainingView } from '@digitq/contracts';
import type { CancelRequests } from './cancel-requests.ts';
import { jobViewOf } from './inference-jobs.ts';
import { trainingViewOf } from './training-jobs.ts';

export type JobKind = 'inference' | 'training';

export interface JobEvent<View> {
  kind: JobKind;
  job: Job;
  /** The job as GET /v1/jobs/:id (or /v1/trainings/:id) shows it at this moment. */
  view: View;
  /** The job as it showed while queued: an event stream's first event when the worker records before the API could. */
  queued: View;
}

export interface JobProgressEvent {
  kind: JobKind;
  job: Job;
  /** What the job reported (a training's TrainingJobProgress). */
  progress: unknown;
  /** Grows with progress (e.g. epoch and batch): tells progress events of one job apart. */
  sequence: number;
}

export interface JobEventMap<View> {
  started: [JobEvent<View>];
  progress: [JobProgressEvent];
  finished: [JobEvent<View>];
}

export interface JobEventSourceOptions<View> {
  kind: JobKind;
  /** The client view of `job` in BullMQ state `state`, with its pending cancel request if any. */
  viewOf: (job: Job, state: string, canceledAt: string | null) => View;
  cancelRequests: CancelRequests;
  /** A job event that could not be published (Redis unreachable): logged by the caller, the job itself is unaffected. */
  onError: (error: unknown, context: { job: string | undefined; event: string }) => void;
}

export class JobEventSource<View> extends EventEmitter<JobEventMap<View>> {
  constructor(private readonly options: JobEventSourceOptions<View>) {
    super();
  }

  /** Listens to `worker` and emits `started` and `finished` for its jobs. */
  watch(worker: Worker): this {
    worker.on('active', (job) => this.publish(job, 'started', 'active'));
    worker.on('completed', (job) => this.publish(job, 'finished', 'completed'));
    worker.on('failed', (job) => {
      if (job) this.publish(job, 'finished', 'failed');
    });
    return this;
  }

  /** A running job reports progress (the processor calls this; BullMQ's own progress event carries no sequence). */
  progress(job: Job, progress: unknown, sequence: number): void {
    this.emit('progress', { kind: this.options.kind, job, progress, sequence });
  }

  private publish(job: Job, event: 'started' | 'finished', state: 'active' | 'completed' | 'failed'): void {
    // Listeners of BullMQ's Worker must not throw.
    this.viewAt(job, event, state)
      .then((view) => {
        if (view !== null) this.emit(event, { kind: this.options.kind, job, view, queued: this.options.viewOf(job, 'waiting', null) });
      })
      .catch((error: unknown) => this.options.onError(error, { job: job.id, event }));
  }

  private async viewAt(job: Job, event: 'started' | 'finished', state: 'active' | 'completed' | 'failed'): Promise<View | null> {
    if (state === 'failed' && (await job.getState()) !== 'failed') return null;
    const canceledAt = await this.options.cancelRequests.requestedAt(job.id!);
    // A job canceled while queued, or whose deadline passed before pickup, is failed on pickup and never runs: it does not start.
    if (event === 'started' && (canceledAt || (msUntilDeadline(job.data as { deadline?: unknown }) ?? 1) <= 0)) return null;
    return this.options.viewOf(job, state, canceledAt);
  }
}

type EventSourceDeps = Pick<JobEventSourceOptions<unknown>, 'cancelRequests' | 'onError'>;

/** The events of inference jobs, with views as GET /v1/jobs/:id shows them. */
export function inferenceJobEvents(deps: EventSourceDeps & { defaultModel: string }): JobEventSource<JobView> {
  return new JobEventSource<JobView>({
    ...deps,
    kind: 'inference',
    viewOf: (job, state, canceledAt) => jobViewOf(job as Job<InferenceJobData, InferenceResult>, state, canceledAt, deps.defaultModel),
  });
}

/** The events of trainings, with views as GET /v1/trainings/:id shows them. */
export function trainingJobEvents(deps: EventSourceDeps): JobEventSource<TrainingView> {
  return new JobEventSource<TrainingView>({
    ...deps,
    kind: 'training',
    viewOf: (job, state, canceledAt) => trainingViewOf(job as Job<TrainingJobData, TrainingResult>, state, canceledAt),
  });
}
