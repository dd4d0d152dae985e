/**
 * The HTTP API as an Express app, without listen(): main.ts serves it, tests
 * drive it with supertest. Everything it talks to comes in through AppDeps.
 *
 * Every route is in one table (http/routes.ts); the Express adapter mounts
 * it and the OpenAPI document is generated from it. Order matters: request
 * log and metrics first; then the routes that need no API key (health,
 * readiness, the OpenAPI document, Swagger UI and the page at /) and the operator surface
 * behind the admin guard (/metrics, model activation, bull-board); then
 * API-key auth (which sets the owner) and the per-key rate limit for
 * everything after, the client routes and unknown paths alike.
 */
import type { Queue } from 'bullmq';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Config } from '@digitq/config';
import { IdempotencyKeys, type FeedbackStore, type InferenceJobs, type ShadowStats, type TrainingJobs } from '@digitq/jobs';
import type { ModelRegistry } from '@digitq/registry';
import type { Logger } from '@digitq/service';
import type { WebhookDeliveryLog, WebhookUrlGuard } from '@digitq/webhooks';
import { defaultPreprocess, type PreprocessImages } from './use-cases/preprocess.ts';
import type { IntakeDeps } from './use-cases/deps.ts';
import { errorHandler, routeNotFound } from './middleware/error-handler.ts';
import { createApiMetrics, httpMetrics } from './metrics.ts';
import { traceRequests } from './middleware/trace.ts';
import { requireAdmin } from './middleware/admin-auth.ts';
import { ApiKeyring, authenticate } from './middleware/auth.ts';
import { queueBackpressure } from './middleware/backpressure.ts';
import { perOwnerRateLimit } from './middleware/rate-limit.ts';
import { UploadBudget } from './middleware/upload-budget.ts';
import { MemoryReclaimer } from './memory-reclaim.ts';
import { requestLog } from './middleware/request-log.ts';
import { adminRouter } from './http/bull-board.ts';
import { expressRouter } from './http/express-adapter.ts';
import { createOpenApiDocument } from './http/openapi.ts';
import { createRoutes, type MetricsSource } from './http/routes.ts';
import { shadowFiguresOf } from './use-cases/models.ts';
import { docsRouter } from './http/swagger-ui.ts';
import { v2Router } from './v2/router.ts';
import { webRouter } from './web/router.ts';

export type AppConfig = Pick<
  Config,
  | 'MAX_IMAGE_BYTES'
  | 'MAX_IMAGES_PER_JOB'
  | 'PREDICT_TIMEOUT_MS'
  | 'API_KEYS'
  | 'ADMIN_API_KEY'
  | 'ADMIN_USER'
  | 'ADMIN_PASSWORD'
  | 'BULL_BOARD_READ_ONLY'
  | 'MAX_QUEUED_JOBS'
  | 'RATE_LIMIT_PER_S'
  | 'IDEMPOTENCY_TTL_S'
  | 'REDIS_COMMAND_TIMEOUT_MS'
  | 'MAX_REQUEST_BYTES'
  | 'UPLOAD_BUDGET_BYTES'
>;

/** A creation's Redis round trips (claim, add, index, settle) at their timeout, plus preprocessing time. */
const IDEMPOTENCY_CLAIM_TIMEOUTS = 3;
const IDEMPOTENCY_CLAIM_MARGIN_MS = 5000;

export interface AppDeps {
  config: AppConfig;
  logger: Logger;
  jobs: InferenceJobs;
  /** The Redis connection `jobs` uses: readiness, worker heartbeats, idempotency keys, rate-limit counters. */
  redis: Redis;
  /** QUEUE_PREFIX: every key this app writes lives under it. */
  prefix: string;
  /** The queues bull-board shows and /metrics counts (inference, training, webhooks). */
  queues: readonly Queue[];
  /** Where /metrics registers; main.ts passes one with the Node.js process metrics. Default: a fresh Registry. */
  metrics?: Registry;
  /** What GET /metrics answers. Default: that registry; in a cluster, every API process's metrics together (api-processes.ts). */
  metricsSource?: MetricsSource;
  webhooks: {
    /** Checks a job's webhook URL at submit (SSRF); a refused URL is answered 422 WEBHOOK_URL_REFUSED. */
    guard: WebhookUrlGuard;
    /** Read by GET /v1/jobs/:id/webhooks. */
    deliveries: WebhookDeliveryLog;
  };
  /** Training jobs (POST/GET /v1/trainings). */
  trainings: TrainingJobs;
  /** The model registry (GET /v1/models, activation). */
  registry: ModelRegistry;
  /** Users' corrections (POST /v1/jobs/:id/feedback, /v1/feedback). */
  feedback: FeedbackStore;
  /** What inference workers recorded of shadow mode (SHADOW_MODEL): a version's report shows it live. Absent: reports as stored. */
  shadowStats?: ShadowStats;
  /** Image bytes -> model inputs. Default: @digitq/imaging's preprocessDigitImages with maxBytes = MAX_IMAGE_BYTES. */
  preprocess?: PreprocessImages;
  /** Aborted when shutdown begins, so requests holding on `Prefer: wait` answer at once instead of delaying it. */
  shutdown?: AbortSignal;
  /** Request-body bytes in flight, shared by every route that takes a body. Default: a budget of UPLOAD_BUDGET_BYTES for this app. */
  uploads?: UploadBudget;
}

export function createApp(deps: AppDeps): Express {
  const { config, jobs, webhooks } = deps;
  const preprocess = deps.preprocess ?? defaultPreprocess(config.MAX_IMAGE_BYTES);
  const keyring = new ApiKeyring(config.API_KEYS ?? []);
  const admin = {
    apiKey: config.ADMIN_API_KEY,
    basic: config.ADMIN_USER !== undefined && config.ADMIN_PASSWORD !== undefined ? { user: config.ADMIN_USER, password: config.ADMIN_PASSWORD } : undefined,
  };
  const adminGuard = requireAdmin({ credentials: admin, apiKeysEnabled: keyring.enabled });
  const metrics = createApiMetrics({ registry: deps.metrics, queues: deps.queues, redis: deps.redis, prefix: deps.prefix });
  const admit = queueBackpressure({ countQueued: () => jobs.queuedCount(), maxQueued: config.MAX_QUEUED_JOBS });
  // A claim outlives its creator only when Redis failed mid-creation; a creation takes at most a few Redis
  // timeouts, so a retry may take over after that (a takeover of a live one is harmless: same job id).
  const idempotency = new IdempotencyKeys(deps.redis, deps.prefix, {
    ttlS: config.IDEMPOTENCY_TTL_S,
    abandonAfterMs: IDEMPOTENCY_CLAIM_TIMEOUTS * config.REDIS_COMMAND_TIMEOUT_MS + IDEMPOTENCY_CLAIM_MARGIN_MS,
  });
  // One budget for every route that takes a body: it bounds what this process buffers at once.
  const reclaimer = new MemoryReclaimer();
  const uploads = deps.uploads ?? new UploadBudget(config.UPLOAD_BUDGET_BYTES, (bytes, idle) => reclaimer.bodyAnswered(bytes, idle));
  const intake: IntakeDeps = {
    jobs,
    trainings: deps.trainings,
    registry: deps.registry,
    preprocess,
    webhookGuard: webhooks.guard,
    deliveries: webhooks.deliveries,
    feedback: deps.feedback,
    idempotency,
    redis: deps.redis,
    prefix: deps.prefix,
    predictTimeoutMs: config.PREDICT_TIMEOUT_MS,
    shutdown: deps.shutdown,
  };
  const routes = createRoutes({
    intake,
    readiness: { redis: deps.redis, prefix: deps.prefix },
    metrics: deps.metricsSource ?? metrics.registry,
    document: () => document,
    maxImageBytes: config.MAX_IMAGE_BYTES,
    maxImagesPerJob: config.MAX_IMAGES_PER_JOB,
    queues: deps.queues,
    shadowFigures: deps.shadowStats && shadowFiguresOf(deps.shadowStats, deps.feedback),
  });
  const document = createOpenApiDocument(routes, {
    apiKeysEnabled: keyring.enabled,
    adminEnabled: admin.apiKey !== undefined || admin.basic !== undefined,
  });
  const adapter = { adminGuard, admit, uploads, maxRequestBytes: config.MAX_REQUEST_BYTES };

  const app = express();
  app.disable('x-powered-by');
  app.use(traceRequests());
  app.use(requestLog(deps.logger));
  app.use(httpMetrics(metrics));
  app.use(expressRouter(routes.filter((route) => route.access !== 'apiKey'), adapter));
  // The Open Inference Protocol (KServe V2) under /v2: its own errors, auth and rate limit as /v1's (v2/router.ts).
  app.use(v2Router({ intake, readiness: { redis: deps.redis, prefix: deps.prefix }, keyring, rateLimit: config.RATE_LIMIT_PER_S > 0 ? { redis: deps.redis, prefix: deps.prefix, perSecond: config.RATE_LIMIT_PER_S, logger: deps.logger } : null, admit, uploads, maxRequestBytes: config.MAX_REQUEST_BYTES, maxImagesPerJob: config.MAX_IMAGES_PER_JOB }));
  app.use(docsRouter(document));
  app.use(webRouter());
  app.use(adminRouter({ queues: deps.queues, readOnly: config.BULL_BOARD_READ_ONLY, guard: adminGuard }));
  app.use(authenticate(keyring));
  if (config.RATE_LIMIT_PER_S > 0) app.use(perOwnerRateLimit({ redis: deps.redis, prefix: deps.prefix, perSecond: config.RATE_LIMIT_PER_S, logger: deps.logger }));
  app.use(expressRouter(routes.filter((route) => route.access === 'apiKey'), adapter));
  app.use(routeNotFound());
  app.use(errorHandler());
  return app;
}

export type { PreprocessImages } from './use-cases/preprocess.ts';
