import type { Job, Queue } from 'bullmq';
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
  const job = (await queue.getJob(id)) as T | undefined;
  if (!job || (owner !== null && job.data.owner !== owner)) return null;
  const [state, canceledAt] = await Promise.all([job.getState(), cancelRequests.requestedAt(id)]);
  return { job, state, canceledAt };
}
