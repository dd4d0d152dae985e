/** GET /v1/workers: the live workers, their device, backend, queues and loaded models (from their heartbeats). */
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { WorkerList } from '@digitq/contracts';
import { listLiveWorkers } from '@digitq/jobs';

export function workersRouter(deps: { redis: Redis; prefix: string }): Router {
  const router = Router();
  router.get('/v1/workers', async (_req, res) => {
    res.json({ data: await listLiveWorkers(deps.redis, deps.prefix) } satisfies WorkerList);
  });
  return router;
}
