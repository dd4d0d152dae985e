/**
 * The HTTP API as an Express app, without listen(): main.ts serves it, tests
 * drive it with supertest. Everything it talks to comes in through AppDeps.
 */
import express, { type Express } from 'express';
import type { Config } from '@digitq/config';
import type { InferenceJobs, TrainingJobs } from '@digitq/jobs';
import type { ModelRegistry } from '@digitq/registry';
import type { Logger } from '@digitq/service';
import type { WebhookDeliveryLog, WebhookUrlGuard } from '@digitq/webhooks';
import { defaultPreprocess, type PreprocessImages } from './images.ts';
import { errorHandler, routeNotFound } from './middleware/error-handler.ts';
import { anonymousOwner } from './middleware/owner.ts';
import { requestLog } from './middleware/request-log.ts';
import { healthRouter } from './routes/health.ts';
import { checkWebhookUrl, jobsRouter } from './routes/jobs.ts';
import { predictRouter } from './routes/predict.ts';
import { webhooksRouter } from './routes/webhooks.ts';
import { trainingsRouter } from './routes/trainings.ts';
import { modelsRouter } from './routes/models.ts';

export type AppConfig = Pick<Config, 'MAX_IMAGE_BYTES' | 'MAX_IMAGES_PER_JOB' | 'PREDICT_TIMEOUT_MS'>;

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  jobs: InferenceJobs;
  webhooks: {
    /** Checks a job's webhook URL at submit (SSRF); a refused URL is answered 422 WEBHOOK_URL_REFUSED. */
    guard: WebhookUrlGuard;
    /** Read by GET /v1/jobs/:id/webhooks. */
    deliveries: WebhookDeliveryLog;
  };
  /** Training jobs (POST/GET /v1/trainings). */
  trainings?: TrainingJobs;
  /** The model registry (GET /v1/models, activation). */
  registry?: ModelRegistry;
  /** Image bytes -> model inputs. Default: @digitq/imaging's preprocessDigitImages with maxBytes = MAX_IMAGE_BYTES. */
  preprocess?: PreprocessImages;
  /** Aborted when shutdown begins, so requests holding on `Prefer: wait` answer at once instead of delaying it. */
  shutdown?: AbortSignal;
}

export function createApp(deps: AppDeps): Express {
  const { config, jobs, webhooks } = deps;
  const preprocess = deps.preprocess ?? defaultPreprocess(config.MAX_IMAGE_BYTES);
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLog(deps.logger));
  app.use(anonymousOwner());
  app.use(healthRouter());
  app.use(predictRouter({ jobs, preprocess, maxImageBytes: config.MAX_IMAGE_BYTES, predictTimeoutMs: config.PREDICT_TIMEOUT_MS }));
  app.use(
    jobsRouter({
      jobs,
      preprocess,
      webhookGuard: webhooks.guard,
      maxImageBytes: config.MAX_IMAGE_BYTES,
      maxImagesPerJob: config.MAX_IMAGES_PER_JOB,
      shutdown: deps.shutdown,
    }),
  );
  app.use(webhooksRouter({ jobs, deliveries: webhooks.deliveries }));
  if (deps.trainings) app.use(trainingsRouter({ trainings: deps.trainings, checkWebhookUrl: (url) => checkWebhookUrl(webhooks.guard, url) }));
  if (deps.registry) app.use(modelsRouter({ registry: deps.registry }));
  app.use(routeNotFound());
  app.use(errorHandler());
  return app;
}

export type { PreprocessImages } from './images.ts';
