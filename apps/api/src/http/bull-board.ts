/**
 * bull-board at /admin/queues: the inference, training and webhooks queues,
 * behind the admin guard (admin-auth.ts), read-only unless
 * BULL_BOARD_READ_ONLY=false.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type RequestHandler } from 'express';
import { labelRoute } from '../metrics.ts';

export const ADMIN_QUEUES_PATH = '/admin/queues';

export interface AdminRouteDeps {
  queues: readonly Queue[];
  readOnly: boolean;
  guard: RequestHandler;
}

export function adminRouter(deps: AdminRouteDeps): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  createBullBoard({
    queues: deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: deps.readOnly, allowRetries: !deps.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'digitq' } },
  });
  const router = Router();
  router.use(ADMIN_QUEUES_PATH, labelRoute(`${ADMIN_QUEUES_PATH}/*`), deps.guard, serverAdapter.getRouter() as RequestHandler);
  return router;
}
