/**
 * How busy the queues are, for the page's queue panel and any client: the
 * counts only (no job data, no owners), so any API key may read them.
 * Operators have more in bull-board (/admin/queues) and /metrics.
 */
import type { Queue } from 'bullmq';
import type { QueueCountsList } from '@digitq/contracts';

/** Waiting counts the jobs not yet taken: waiting, prioritized (any job with a priority) and delayed (retries in backoff). */
export async function listQueueCounts(queues: readonly Queue[]): Promise<QueueCountsList> {
  const data = await Promise.all(
    queues.map(async (queue) => {
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
      return {
        name: queue.name,
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0),
        active: counts.active ?? 0,
        completed: counts.completed ?? 0,
        failed: counts.failed ?? 0,
      };
    }),
  );
  return { data };
}
