/**
 * /v1/models: the registry's model versions, their metrics, and which one is
 * active. Activating a version makes every inference worker load it and
 * swap it in between batches.
 */
import { Router, type RequestHandler } from 'express';
import { AppError, modelNameSchema, modelVersionSchema } from '@digitq/contracts';
import type { ModelRegistry } from '@digitq/registry';
import { parseOrThrow } from '../http/validate.ts';

export interface ModelsRouteDeps {
  registry: ModelRegistry;
}

async function findVersion(registry: ModelRegistry, params: { name?: unknown; version?: unknown }) {
  const name = parseOrThrow(modelNameSchema, params.name, 'model name');
  const version = parseOrThrow(modelVersionSchema, params.version, 'model version');
  const metadata = await registry.get(name, version);
  if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${name}@${version}`);
  return metadata;
}

/** Reads, for any API key. */
export function modelsRouter(deps: ModelsRouteDeps): Router {
  const router = Router();

  router.get('/v1/models', async (_req, res) => {
    res.json(await deps.registry.list());
  });

  router.get('/v1/models/:name/:version', async (req, res) => {
    const metadata = await findVersion(deps.registry, req.params);
    const active = await deps.registry.activeVersion(metadata.name);
    res.json({ ...metadata, active: active === metadata.version });
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
    const metadata = await findVersion(deps.registry, req.params);
    await deps.registry.activate(metadata.name, metadata.version);
    res.json({ ...metadata, active: true });
  });

  return router;
}
