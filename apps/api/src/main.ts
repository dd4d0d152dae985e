/**
 * Boots the API: configuration, Redis, the inference queue and its events,
 * then HTTP. The first SIGTERM/SIGINT stops accepting connections, lets
 * in-flight requests finish (long-polls answer at once), then closes the
 * queue and Redis.
 */
import type { AddressInfo } from 'node:net';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { QUEUE_NAMES } from '@digitq/contracts';
import { CancelRequests, InferenceJobs, JobWaiter, TrainingJobs, createQueue, createQueueEvents, createRedisConnection } from '@digitq/jobs';
import { createLogger, exitWhenParentDies, handleShutdownSignals, loadConfigOrExit, type Logger } from '@digitq/service';
import { WebhookDeliveryLog, WebhookSecrets, WebhookUrlGuard } from '@digitq/webhooks';
import { ModelRegistry } from '@digitq/registry';
import { createApp } from './app.ts';
import { applyServerTimeouts } from './http/server-timeouts.ts';
import { checkStart } from './start-check.ts';

/** Beyond the longest request (a /predict wait), time to close the queue and Redis. */
const SHUTDOWN_MARGIN_MS = 10_000;

/** Workers sign with the same secret (SET NX in Redis); the API says it once, since receivers need it. */
async function announceGeneratedWebhookSecret(secrets: WebhookSecrets, log: Logger): Promise<void> {
  const current = await secrets.current();
  if (!current.generated) return;
  log.warn(
    { webhook_secret: current.secrets[0], redis_key: secrets.key },
    'WEBHOOK_SECRET is not set: webhooks are signed with this generated secret, kept in Redis; set WEBHOOK_SECRET to it (or your own) so it survives a Redis reset',
  );
}

function main(): void {
  const config = loadConfigOrExit('api');
  const log = createLogger('api', config.LOG_LEVEL);
  const exposure = checkStart(config);
  if (exposure.refusal !== null) {
    log.fatal({ host: config.HOST }, exposure.refusal);
    process.exit(1);
  }
  for (const warning of exposure.warnings) log.warn(warning);
  const retention = { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT };
  const redis = createRedisConnection(config.REDIS_URL);
  const queue = createQueue(QUEUE_NAMES.inference, redis, config.QUEUE_PREFIX, retention);
  const events = createQueueEvents(QUEUE_NAMES.inference, redis, config.QUEUE_PREFIX);
  const logConnectionError = (component: string) => (error: Error) => log.error({ err: error, component }, 'redis connection error');
  redis.on('error', logConnectionError('redis'));
  queue.on('error', logConnectionError('queue'));
  events.on('error', logConnectionError('queue-events'));
  const jobs = new InferenceJobs({
    queue,
    redis,
    prefix: config.QUEUE_PREFIX,
    cancelRequests: new CancelRequests(redis, config.QUEUE_PREFIX, QUEUE_NAMES.inference, config.JOB_RESULT_TTL_S),
    waiter: new JobWaiter(events),
    resultTtlS: config.JOB_RESULT_TTL_S,
    defaultModel: config.DEFAULT_MODEL,
  });
  const webhooks = {
    guard: new WebhookUrlGuard({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
    deliveries: new WebhookDeliveryLog(redis, config.QUEUE_PREFIX, config.JOB_RESULT_TTL_S),
  };
  announceGeneratedWebhookSecret(new WebhookSecrets(redis, config.QUEUE_PREFIX, config.WEBHOOK_SECRET), log).catch((error: unknown) =>
    log.error({ err: error }, 'could not read or create the webhook secret in Redis'),
  );
  const trainingQueue = createQueue(QUEUE_NAMES.training, redis, config.QUEUE_PREFIX, retention);
  trainingQueue.on('error', logConnectionError('training-queue'));
  const trainings = new TrainingJobs({
    queue: trainingQueue,
    cancelRequests: new CancelRequests(redis, config.QUEUE_PREFIX, QUEUE_NAMES.training, config.JOB_RESULT_TTL_S),
  });
  const registry = new ModelRegistry(redis, config.QUEUE_PREFIX, config.MODELS_DIR);
  // The API may start before any worker: register the models on this disk so GET /v1/models lists them at once.
  registry.syncFromDisk().catch((error: unknown) => log.error({ err: error }, 'could not register the models found on disk'));
  // Only for bull-board and /metrics: the API never adds webhook deliveries itself.
  const webhookQueue = createQueue(QUEUE_NAMES.webhooks, redis, config.QUEUE_PREFIX, retention);
  webhookQueue.on('error', logConnectionError('webhook-queue'));
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const shutdown = new AbortController();
  const app = createApp({
    config,
    logger: log,
    jobs,
    redis,
    prefix: config.QUEUE_PREFIX,
    queues: [queue, trainingQueue, webhookQueue],
    metrics,
    webhooks,
    trainings,
    registry,
    shutdown: shutdown.signal,
  });

  const server = app.listen(config.PORT, config.HOST, (error?: Error) => {
    if (error) {
      log.fatal({ err: error, host: config.HOST, port: config.PORT }, 'cannot listen');
      process.exit(1);
    }
    const { port } = server.address() as AddressInfo;
    log.info({ url: `http://${config.HOST}:${port}` }, 'api listening');
  });
  applyServerTimeouts(server, { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS });

  // Started by npm start: drain as on SIGTERM when the launcher is gone, however it went.
  exitWhenParentDies(() => process.kill(process.pid, 'SIGTERM'));
  handleShutdownSignals(
    log,
    async () => {
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      shutdown.abort();
      server.closeIdleConnections();
      await closed;
      await events.close();
      await queue.close();
      await trainingQueue.close();
      await webhookQueue.close();
      await redis.quit();
    },
    { forceAfterMs: config.PREDICT_TIMEOUT_MS + SHUTDOWN_MARGIN_MS },
  );
}

main();
