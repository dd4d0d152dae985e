/**
 * Readiness: can this API instance serve predictions right now? Redis must
 * answer a PING within REDIS_PING_TIMEOUT_MS, and at least one worker that
 * consumes the inference queue with a model loaded must have written its
 * heartbeat within the heartbeat TTL (packages/jobs worker-heartbeats.ts).
 * Liveness (/healthz) is separate: a not-ready API is still alive.
 */
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type WorkerHeartbeat } from '@digitq/contracts';
import { WORKER_HEARTBEAT_TTL_MS, listLiveWorkers } from '@digitq/jobs';
import { withTimeout } from './with-timeout.ts';

export const REDIS_PING_TIMEOUT_MS = 1000;
const MS_PER_S = 1000;

export interface ReadinessDeps {
  redis: Redis;
  prefix: string;
  pingTimeoutMs?: number;
}

/** Workers that can run inference jobs now. */
export function servingWorkers(workers: readonly WorkerHeartbeat[]): WorkerHeartbeat[] {
  return workers.filter((worker) => worker.queues.includes(QUEUE_NAMES.inference) && worker.models.length > 0);
}

async function redisProblem(redis: Redis, timeoutMs: number): Promise<string | null> {
  // Not connected: a PING would only wait in ioredis's offline queue.
  if (redis.status !== 'ready') return `redis: not connected (connection ${redis.status})`;
  try {
    await withTimeout(redis.ping(), timeoutMs, 'PING');
    return null;
  } catch (error) {
    return `redis: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Why this instance is not ready; empty when it is. */
export async function readinessProblems(deps: ReadinessDeps): Promise<string[]> {
  const timeoutMs = deps.pingTimeoutMs ?? REDIS_PING_TIMEOUT_MS;
  const redis = await redisProblem(deps.redis, timeoutMs);
  if (redis !== null) return [redis, 'workers: unknown while Redis is unreachable'];
  const workers = servingWorkers(await withTimeout(listLiveWorkers(deps.redis, deps.prefix), timeoutMs, 'worker heartbeats'));
  if (workers.length === 0) {
    return [`workers: no worker with a loaded model consuming the ${QUEUE_NAMES.inference} queue reported in the last ${WORKER_HEARTBEAT_TTL_MS / MS_PER_S} s`];
  }
  return [];
}
