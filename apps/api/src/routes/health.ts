import { Router } from 'express';
import type { HealthResponse } from '@digitq/contracts';

/** Liveness only: the process is up and serving HTTP. Readiness (Redis, workers) is a separate probe. */
export function healthRouter(): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' } satisfies HealthResponse);
  });
  return router;
}
