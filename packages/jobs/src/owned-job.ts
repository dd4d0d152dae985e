import type { Job, Queue } from 'bullmq';
import { AppError, TERMINAL_STATUSES, parseFailedReason, statusFromState, type JobStatus } from '@digitq/contracts';
import type { CancelRequests } from './cancel-requests.ts';

/**
 * A job with what its client view needs: its BullMQ state and any pending
 * cancel request. Null when the job does not exist, has expired, or belongs
 * to another owner (`owner` null skips the check, for operators).
 */
export async function loadOwnedJob<T extends Job<{ owner: string }>>(
  queue: Queue,
  cancelRequests: CancelRequests,
  id: string,
  owner: string | null,
): Promise<{ job: T; state: string; canceledAt: string | null } | null> {
  // The job's hash and its state are two reads. Read in the other order, a job finishing between them
  // looked finished without its result (a "succeeded" job with no output: the e2e flake of issue 10).
  // State first, then the hash; a hash that says finished while the state said otherwise moved on in
  // between, so its state is read again (it only moves forward to a finished state).
  let state = await queue.getJobState(id);
  if (state === 'unknown') return null;
  const job = (await queue.getJob(id)) as T | undefined;
  if (!job || (owner !== null && job.data.owner !== owner)) return null;
  if (job.finishedOn !== undefined && !FINISHED_STATES.has(state)) state = await queue.getJobState(id);
  const canceledAt = await cancelRequests.requestedAt(id);
  return { job, state, canceledAt };
}

/** BullMQ states in which a job's hash holds its final result or reason. */
const FINISHED_STATES: ReadonlySet<string> = new Set(['completed', 'failed']);

/**
 * The cancel rule both job kinds share: canceled stays canceled, a finished
 * job cannot be canceled (409 JOB_FINISHED), anything else gets a cancel
 * request that workers honour at their next safe point.
 */
export async function requestCancel<V extends { status: JobStatus }>(
  current: V,
  id: string,
  cancelRequests: CancelRequests,
  what: 'job' | 'training',
): Promise<'requested' | 'already-canceled'> {
  if (current.status === 'canceled') return 'already-canceled';
  if (TERMINAL_STATUSES.includes(current.status)) {
    throw new AppError('JOB_FINISHED', `${what} ${id} already ${current.status}; only queued or running ${what}s can be canceled`);
  }
  await cancelRequests.request(id);
  return 'requested';
}

function iso(ms: number | undefined): string | null {
  return ms ? new Date(ms).toISOString() : null;
}

/**
 * What every job view shares: the client status (a queued job with a cancel
 * request is canceled already: the first worker to see it fails it), the
 * timestamps, and the error of a failed or canceled job.
 */
export function jobLifecycleOf(
  job: Pick<Job, 'id' | 'timestamp' | 'processedOn' | 'finishedOn' | 'failedReason'>,
  state: string,
  canceledAt: string | null,
): { id: string; status: JobStatus; created_at: string; started_at: string | null; completed_at: string | null; error: { code: string; message: string } | null } {
  let status = statusFromState(state, job.failedReason);
  if (canceledAt && status === 'queued') status = 'canceled';
  const error =
    status === 'failed' || status === 'canceled' || status === 'aborted'
      ? job.failedReason
        ? parseFailedReason(job.failedReason)
        : { code: 'JOB_CANCELED', message: 'canceled at client request' }
      : null;
  return {
    id: job.id!,
    status,
    created_at: new Date(job.timestamp).toISOString(),
    started_at: iso(job.processedOn),
    completed_at: iso(job.finishedOn) ?? (status === 'canceled' ? canceledAt : null),
    error,
  };
}
