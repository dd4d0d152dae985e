/** /v1/trainings: start, read and cancel training jobs (use-cases/trainings.ts). */
import { Router } from 'express';
import { AppError } from '@digitq/contracts';
import { readTrainingRequest } from '../intake/requests.ts';
import { IDEMPOTENT_REPLAYED_HEADER, idempotencyOf } from '../http/idempotency.ts';
import { boundedBody, jsonBody } from '../middleware/body.ts';
import { ownerOf } from '../middleware/owner.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { trainingPath } from '../use-cases/paths.ts';
import { cancelTraining, getTraining, startTraining } from '../use-cases/trainings.ts';

export interface TrainingsRouteDeps {
  intake: IntakeDeps;
  /** The process's budget of request-body bytes in flight. */
  uploads: UploadBudget;
}

/** A training request is a few settings; 16 KiB leaves room for a long webhook URL and dataset path. */
const TRAINING_BODY_LIMIT_BYTES = 16 * 1024;

export function trainingsRouter(deps: TrainingsRouteDeps): Router {
  const router = Router();
  const { intake } = deps;

  const readBody = [boundedBody(TRAINING_BODY_LIMIT_BYTES), reserveUploadBudget(deps.uploads, TRAINING_BODY_LIMIT_BYTES), jsonBody(TRAINING_BODY_LIMIT_BYTES)];

  router.post('/v1/trainings', ...readBody, async (req, res) => {
    if (!req.is('application/json')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'POST /v1/trainings takes a JSON body (Content-Type: application/json)');
    const request = readTrainingRequest(req.body);
    const idempotency = idempotencyOf({ method: req.method, path: req.path, headers: req.headers, bodyType: 'json', body: req.body, files: [] });
    const { training, replayed } = await startTraining({ owner: ownerOf(res), request, idempotency }, intake);
    if (replayed) res.setHeader(IDEMPOTENT_REPLAYED_HEADER, 'true');
    res.status(202).location(trainingPath(training.id)).json(training);
  });

  router.get('/v1/trainings/:id', async (req, res) => {
    res.json(await getTraining({ owner: ownerOf(res), id: req.params.id }, intake));
  });

  router.post('/v1/trainings/:id/cancel', async (req, res) => {
    res.json(await cancelTraining({ owner: ownerOf(res), id: req.params.id }, intake));
  });

  return router;
}
