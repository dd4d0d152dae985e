/**
 * GET /v1/jobs/:id/webhooks: the job's webhook delivery attempts, oldest
 * first. Visible to the job's owner only, like the job itself.
 */
import { Router } from 'express';
import { AppError, type WebhookAttemptList } from '@digitq/contracts';
import type { InferenceJobs } from '@digitq/jobs';
import type { WebhookDeliveryLog } from '@digitq/webhooks';
import { ownerOf } from '../middleware/owner.ts';

export interface WebhooksRouteDeps {
  jobs: InferenceJobs;
  deliveries: WebhookDeliveryLog;
}

export function webhooksRouter(deps: WebhooksRouteDeps): Router {
  const router = Router();

  router.get('/v1/jobs/:id/webhooks', async (req, res) => {
    const job = await deps.jobs.get(req.params.id, ownerOf(res));
    if (!job) throw new AppError('JOB_NOT_FOUND', `no job ${req.params.id}`);
    res.json({ data: await deps.deliveries.list(job.id) } satisfies WebhookAttemptList);
  });

  return router;
}
