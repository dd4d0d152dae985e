/** GET /readyz: 200 {status:"ready"}, or 503 {status:"unavailable", reasons:[...]} (see readiness.ts). */
import { Router } from 'express';
import type { NotReadyResponse, ReadyResponse } from '@digitq/contracts';
import { readinessProblems, type ReadinessDeps } from '../readiness.ts';

const NOT_READY_STATUS = 503;

export function readyRouter(deps: ReadinessDeps): Router {
  const router = Router();
  router.get('/readyz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    const reasons = await readinessProblems(deps).catch((error: unknown) => [`readiness check failed: ${error instanceof Error ? error.message : String(error)}`]);
    if (reasons.length === 0) {
      res.json({ status: 'ready' } satisfies ReadyResponse);
      return;
    }
    res.status(NOT_READY_STATUS).json({ status: 'unavailable', reasons } satisfies NotReadyResponse);
  });
  return router;
}
