/** GET /metrics: the API's Prometheus metrics (see metrics.ts), behind the admin guard. */
import { Router, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';

export const METRICS_PATH = '/metrics';

export function metricsRouter(deps: { registry: Registry; guard: RequestHandler }): Router {
  const router = Router();
  router.get(METRICS_PATH, deps.guard, async (_req, res) => {
    res.setHeader('Content-Type', deps.registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await deps.registry.metrics());
  });
  return router;
}
