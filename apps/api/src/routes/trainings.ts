/**
 * /v1/trainings: start, read and cancel training jobs. The training runs on a
 * worker started with `--queues training`.
 */
import { Router } from 'express';
import { AppError, trainingRequestSchema } from '@digitq/contracts';
import type { TrainingJobs } from '@digitq/jobs';
import type { IdempotencyKeys } from '@digitq/jobs';
import { parseOrThrow } from '../http/validate.ts';
import { boundedBody, jsonBody } from '../middleware/body.ts';
import { createIdempotently } from '../middleware/idempotency.ts';
import { ownerOf } from '../middleware/owner.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';

export interface TrainingsRouteDeps {
  trainings: TrainingJobs;
  /** Vets a webhook URL at submit (SSRF guard). */
  checkWebhookUrl: (url: string) => Promise<void>;
  /** Idempotency-Key support, as on POST /v1/jobs. */
  idempotency: IdempotencyKeys;
  /** The process's budget of request-body bytes in flight. */
  uploads: UploadBudget;
}

/** A training request is a few settings; 16 KiB leaves room for a long webhook URL and dataset path. */
const TRAINING_BODY_LIMIT_BYTES = 16 * 1024;

export function trainingPath(id: string): string {
  return `/v1/trainings/${encodeURIComponent(id)}`;
}

function notFound(id: string): AppError {
  return new AppError('JOB_NOT_FOUND', `no training ${id}`);
}

export function trainingsRouter(deps: TrainingsRouteDeps): Router {
  const router = Router();

  const readBody = [boundedBody(TRAINING_BODY_LIMIT_BYTES), reserveUploadBudget(deps.uploads, TRAINING_BODY_LIMIT_BYTES), jsonBody(TRAINING_BODY_LIMIT_BYTES)];

  router.post('/v1/trainings', ...readBody, async (req, res) => {
    if (!req.is('application/json')) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'POST /v1/trainings takes a JSON body (Content-Type: application/json)');
    const request = parseOrThrow(trainingRequestSchema, req.body ?? {}, 'training request');
    const owner = ownerOf(res);
    const create = async (id?: string) => {
      if (request.webhook) await deps.checkWebhookUrl(request.webhook);
      const webhook = request.webhook ? { url: request.webhook, events: request.webhook_events_filter ?? ['training.completed' as const] } : null;
      return deps.trainings.submit(request, owner, webhook, id);
    };
    const { resource: view } = await createIdempotently(deps.idempotency, req, res, [], {
      create,
      load: (id) => deps.trainings.get(id, owner),
      gone: notFound,
    });
    res.status(202).location(trainingPath(view.id)).json(view);
  });

  router.get('/v1/trainings/:id', async (req, res) => {
    const view = await deps.trainings.get(req.params.id, ownerOf(res));
    if (!view) throw notFound(req.params.id);
    res.json(view);
  });

  router.post('/v1/trainings/:id/cancel', async (req, res) => {
    const view = await deps.trainings.cancel(req.params.id, ownerOf(res));
    if (!view) throw notFound(req.params.id);
    res.json(view);
  });

  return router;
}
