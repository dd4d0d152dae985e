/**
 * /v1/models: the registry's model versions, their metrics, and which one is
 * active. Activating a version makes every inference worker load it and
 * swap it in between batches.
 */
import { Router } from 'express';
import { AppError, modelNameSchema, modelVersionSchema } from '@digitq/contracts';
import type { ModelRegistry } from '@digitq/registry';
import { parseOrThrow } from '../http/validate.ts';

export interface ModelsRouteDeps {
  registry: ModelRegistry;
}

export function modelsRouter(deps: ModelsRouteDeps): Router {
  const router = Router();

  router.get('/v1/models', async (_req, res) => {
    res.json(await deps.registry.list());
  });

  const versionOf = async (params: Record<string, string>) => {
    const name = parseOrThrow(modelNameSchema, params.name, 'model name');
    const version = parseOrThrow(modelVersionSchema, params.version, 'model version');
    const metadata = await deps.registry.get(name, version);
    if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${name}@${version}`);
    return metadata;
  };

  router.get('/v1/models/:name/:version', async (req, res) => {
    const metadata = await versionOf(req.params);
    const active = await deps.registry.activeVersion(metadata.name);
    res.json({ ...metadata, active: active === metadata.version });
  });

  router.post('/v1/models/:name/:version/activate', async (req, res) => {
    const metadata = await versionOf(req.params);
    await deps.registry.activate(metadata.name, metadata.version);
    res.json({ ...metadata, active: true });
  });

  return router;
}
