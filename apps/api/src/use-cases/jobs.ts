/**
 * Inference jobs: submit, read (waiting for the end if asked), list, cancel,
 * and a job's webhook delivery attempts. Plain input in (intake/ builds it
 * from a request), contracts' views out; failures are AppError (or ImageError
 * from preprocessing). A job is visible to its owner only: anyone else gets
 * JOB_NOT_FOUND, exactly as if it did not exist.
 */
import { AppError, TERMINAL_STATUSES, type InferenceJobData, type JobList, type JobView, type ListJobsQuery, type WebhookAttemptList } from '@digitq/contracts';
import type { IntakeDeps } from './deps.ts';
import { recordCanceled, recordQueued } from './events.ts';
import { createOnce, type IdempotencyInput } from './idempotency.ts';
import { preprocessAll, type NamedImage } from './preprocess.ts';
import { untilAborted } from './until-aborted.ts';
import { checkWebhookUrl } from './webhook-url.ts';

const MS_PER_S = 1000;

/** A validated job request (intake/requests.ts), images still as uploaded. */
export interface JobRequest {
  images: NamedImage[];
  /** Name or name@version; null: the active version of the default model. */
  model: string | null;
  webhook: InferenceJobData['webhook'];
  /** 1 (least urgent) … 10 (most urgent). */
  priority: number;
  /** When the job stops being wanted (ISO time, from Cancel-After or `deadline`); null: never. */
  deadline: string | null;
  /** Below this top probability an image is answered `prediction: null`; null: the worker's MIN_CONFIDENCE. */
  minConfidence: number | null;
}

export interface SubmitJobInput extends JobRequest {
  owner: string;
  /** Retry safety: the same key and request make one job. Null: every submit creates. */
  idempotency: IdempotencyInput | null;
  /** Wait up to this many seconds for the job to finish before answering; null: answer at once. */
  waitS: number | null;
}

export interface JobRef {
  owner: string;
  id: string;
}

export function isFinished(view: JobView): boolean {
  return TERMINAL_STATUSES.includes(view.status);
}

function jobNotFound(id: string): AppError {
  return new AppError('JOB_NOT_FOUND', `no job ${id}`);
}

/** The owner's job, or JOB_NOT_FOUND: the one place a missing job becomes an error. */
async function ownJob(ref: JobRef, deps: Pick<IntakeDeps, 'jobs'>): Promise<JobView> {
  const view = await deps.jobs.get(ref.id, ref.owner);
  if (!view) throw jobNotFound(ref.id);
  return view;
}

/** The job once it finished, or as it is when `waitS` ran out or shutdown began; null when there is no such job. */
export async function waitForJob(ref: JobRef & { waitS: number }, deps: Pick<IntakeDeps, 'jobs' | 'shutdown'>): Promise<JobView | null> {
  const finished = deps.jobs.waitForFinish(ref.id, ref.owner, ref.waitS * MS_PER_S);
  if (!deps.shutdown) return finished;
  const shutdown = untilAborted(deps.shutdown);
  try {
    await Promise.race([finished, shutdown.promise]);
  } finally {
    shutdown.dispose();
  }
  return deps.jobs.get(ref.id, ref.owner);
}

/**
 * Checks the webhook URL, preprocesses every image (the first bad one fails
 * the request) and enqueues one job, at most once per Idempotency-Key (a
 * replay answers with the job as it is now). Then waits `waitS` if asked.
 */
export async function submitJob(
  input: SubmitJobInput,
  deps: Pick<IntakeDeps, 'jobs' | 'preprocess' | 'webhookGuard' | 'idempotency' | 'shutdown' | 'redis' | 'prefix'>,
): Promise<{ job: JobView; replayed: boolean }> {
  const { owner } = input;
  const create = async (id?: string) => {
    if (input.webhook) await checkWebhookUrl(deps.webhookGuard, input.webhook.url);
    const images = await preprocessAll(input.images, deps.preprocess);
    const job = await deps.jobs.submit({ id, images, model: input.model, owner, webhook: input.webhook, priority: input.priority, deadline: input.deadline, minConfidence: input.minConfidence });
    // Not awaited: best effort, written only if the stream is still empty (the worker writes it otherwise), and
    // an open event stream waits for it anyway; a submit need not pay a third round trip for it.
    void recordQueued('inference', job, deps);
    return job;
  };
  const { resource: submitted, replayed } = await createOnce(deps.idempotency, owner, input.idempotency, {
    create,
    load: (id) => deps.jobs.get(id, owner),
    gone: jobNotFound,
  });
  const job = input.waitS ? ((await waitForJob({ owner, id: submitted.id, waitS: input.waitS }, deps)) ?? submitted) : submitted;
  return { job, replayed };
}

/** The job; with `waitS`, once it finished or the wait ran out. */
export async function getJob(ref: JobRef & { waitS: number | null }, deps: Pick<IntakeDeps, 'jobs' | 'shutdown'>): Promise<JobView> {
  if (!ref.waitS) return ownJob(ref, deps);
  const view = await waitForJob({ ...ref, waitS: ref.waitS }, deps);
  if (!view) throw jobNotFound(ref.id);
  return view;
}

/** The owner's jobs, newest first, a page at a time. */
export async function listJobs(input: { owner: string; query: ListJobsQuery }, deps: Pick<IntakeDeps, 'jobs'>): Promise<JobList> {
  return deps.jobs.list(input.owner, input.query);
}

/** Cancels a queued or running job (JOB_FINISHED once it finished); canceling twice is the same as once. */
export async function cancelJob(ref: JobRef, deps: Pick<IntakeDeps, 'jobs' | 'redis' | 'prefix'>): Promise<JobView> {
  const view = await deps.jobs.cancel(ref.id, ref.owner);
  if (!view) throw jobNotFound(ref.id);
  await recordCanceled('inference', view, deps);
  return view;
}

/** The job's webhook delivery attempts, oldest first. */
export async function listJobWebhookAttempts(ref: JobRef, deps: Pick<IntakeDeps, 'jobs' | 'deliveries'>): Promise<WebhookAttemptList> {
  const job = await ownJob(ref, deps);
  return { data: await deps.deliveries.list(job.id) };
}
