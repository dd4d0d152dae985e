/** /v1/models: the registry's versions (use-cases/models.ts); activation sits on the operator surface. */
import { Router, type RequestHandler } from 'express';
import { readModelVersionRef } from '../intake/requests.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { activateModel, getModel, listModels } from '../use-cases/models.ts';

export interface ModelsRouteDeps {
  intake: IntakeDeps;
}

/** Reads, for any API key. */
export function modelsRouter(deps: ModelsRouteDeps): Router {
  const router = Router();
  router.get('/v1/models', async (_req, res) => {
    res.json(await listModels(deps.intake));
  });
  router.get('/v1/models/:name/:version', async (req, res) => {
    res.json(await getModel(readModelVersionRef(req.params), deps.intake));
  });
  return router;
}

/**
 * Activation changes the model every tenant gets, so it sits on the operator
 * surface: mounted before API-key auth, behind the admin guard.
 */
export function modelActivationRouter(deps: ModelsRouteDeps & { adminGuard: RequestHandler }): Router {
  const router = Router();
  router.post('/v1/models/:name/:version/activate', deps.adminGuard, async (req, res) => {
    res.json(await activateModel(readModelVersionRef(req.params), deps.intake));
  });
  return router;
}
