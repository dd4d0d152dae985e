import type { WorkerList } from '@digitq/contracts';
import { listLiveWorkers } from '@digitq/jobs';
import type { IntakeDeps } from './deps.ts';

/** The live workers (heartbeat within its TTL): device, backend, queues and loaded models. */
export async function listWorkers(deps: Pick<IntakeDeps, 'redis' | 'prefix'>): Promise<WorkerList> {
  return { data: await listLiveWorkers(deps.redis, deps.prefix) };
}
