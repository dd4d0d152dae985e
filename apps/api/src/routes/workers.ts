/** GET /v1/workers: the live workers, their device, backend, queues and loaded models (from their heartbeats). */
import { Router } from 'express';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { listWorkers } from '../use-cases/workers.ts';

export function workersRouter(deps: { intake: IntakeDeps }): Router {
  const router = Router();
  router.get('/v1/workers', async (_req, res) => {
    res.json(await listWorkers(deps.intake));
  });
  return router;
}
