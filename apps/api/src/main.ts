/**
 * Boots the API: configuration, Redis, the inference queue and its events,
 * then HTTP.
 *
 * Requests never wait on an unreachable Redis: the connection their commands
 * use (createCommandConnection) refuses commands while disconnected and gives
 * up after REDIS_COMMAND_TIMEOUT_MS, so they answer 503 SERVICE_UNAVAILABLE
 * with Retry-After, and no command runs after its request was answered.
 * QueueEvents (long-polls) blocks on a connection of its own. An outage is
 * logged once, and once more when it ends.
 *
 * The first SIGTERM/SIGINT stops accepting connections, lets in-flight
 * requests finish (long-polls answer at once), then closes the queues and
 * Redis (cut, not waited on, when Redis does not answer); by
 * SHUTDOWN_TIMEOUT_MS it exits whatever is left, saying what.
 *
 * With API_PROCESSES=N above 1 this process is the primary of N such
 * processes sharing the port (api-processes.ts); each of them runs serve().
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '@digitq/config';
import { QUEUE_NAMES } from '@digitq/contracts';
import { CancelRequests, FeedbackStore, InferenceJobs, JobWaiter, ShadowStats, TrainingJobs, createCommandConnection, createQueue, createQueueEvents, createRedisConnection } from '@digitq/jobs';
import { ConnectionHealth, closeWithin, createLogger, exitWhenParentDies, handleShutdownSignals, loadConfigOrExit, startTelemetry, writeSecretFile, type Logger } from '@digitq/service';
import { WebhookDeliveryLog, WebhookSecrets, WebhookUrlGuard } from '@digitq/webhooks';
import { configureImaging } from '@digitq/imaging';
import { ModelRegistry } from '@digitq/registry';
import { clusterMetricsSource, runApiProcesses } from './api-processes.ts';
import { createApp } from './app.ts';
import { applyServerTimeouts } from './http/server-timeouts.ts';
import { checkStart } from './start-check.ts';

/** At shutdown, how long each connection's polite close (QUIT) may take before it is cut. */
const REDIS_CLOSE_GRACE_MS = 1000;

/**
 * Workers sign with the same secret (SET NX in Redis); receivers need it, so
 * the API writes it where only the operator can read it (never to the log,
 * which is shipped and kept): the log names the file.
 */
async function announceGeneratedWebhookSecret(secrets: WebhookSecrets, file: string, log: Logger): Promise<void> {
  const current = await secrets.current();
  if (!current.generated) return;
  const path = resolve(file);
  await writeSecretFile(path, current.secrets[0]!);
  log.warn(
    { file: path, redis_key: secrets.key },
    'WEBHOOK_SECRET is not set: webhooks are signed with a generated secret, kept in Redis and written to this file (mode 0600); set WEBHOOK_SECRET to it (or your own) so it survives a Redis reset',
  );
}

/** Runs `work` once Redis is first connected: commands sent before would be refused (no offline queue). */
function whenConnected(redis: Redis, work: () => void): void {
  if (redis.status === 'ready') work();
  else redis.once('ready', work);
}

/** Serves the API in this process: alone (API_PROCESSES=1), or as one of a cluster's processes. */
function serve(config: Config, log: Logger): void {
  // Before any queue exists: BullMQ's spans and the request spans go to the provider registered here.
  const telemetry = startTelemetry('digitq-api', config);
  const inCluster = cluster.isWorker;
  const retention = { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT };
  const redisTarget = { url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES };
  const redis = createCommandConnection(redisTarget, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
  const failFast = { failFast: true };
  const queue = createQueue(QUEUE_NAMES.inference, redis, config.QUEUE_PREFIX, retention, failFast);
  // Its own connection (a single Redis or a cluster client): XREAD blocks longer than any command timeout.
  // BullMQ does not close a connection it was given: shutdown quits it after the QueueEvents.
  const eventsConnection = createRedisConnection(redisTarget);
  const events = createQueueEvents(QUEUE_NAMES.inference, eventsConnection, config.QUEUE_PREFIX);
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
  const trainingQueue = createQueue(QUEUE_NAMES.training, redis, config.QUEUE_PREFIX, retention, failFast);
  const trainings = new TrainingJobs({
    queue: trainingQueue,
    cancelRequests: new CancelRequests(redis, config.QUEUE_PREFIX, QUEUE_NAMES.training, config.JOB_RESULT_TTL_S),
  });
  const registry = new ModelRegistry(redis, config.QUEUE_PREFIX, config.MODELS_DIR);
  const feedback = new FeedbackStore(redis, config.QUEUE_PREFIX, { maxPerOwner: config.FEEDBACK_MAX_PER_OWNER, dir: config.FEEDBACK_DIR });
  // Only for bull-board and /metrics: the API never adds webhook deliveries itself.
  const webhookQueue = createQueue(QUEUE_NAMES.webhooks, redis, config.QUEUE_PREFIX, retention, failFast);
  const queues = { 'inference-queue': queue, 'training-queue': trainingQueue, 'webhook-queue': webhookQueue };

  const health = new ConnectionHealth(log);
  health.watch('redis', redis);
  health.watch('queue-events', events);
  for (const [component, each] of Object.entries(queues)) health.watch(component, each);

  // Once per start, not once per process: in a cluster, its first process does it.
  if (!inCluster || cluster.worker?.id === 1) {
    whenConnected(redis, () => {
      announceGeneratedWebhookSecret(new WebhookSecrets(redis, config.QUEUE_PREFIX, config.WEBHOOK_SECRET), config.WEBHOOK_SECRET_FILE, log).catch(
        (error: unknown) => log.error({ err: error }, 'could not read, create or write out the webhook secret'),
      );
      // The API may start before any worker: register the models on this disk so GET /v1/models lists them at once.
      registry.syncFromDisk().catch((error: unknown) => log.error({ err: error }, 'could not register the models found on disk'));
      // Redis holding no corrections while FEEDBACK_DIR has some means Redis lost its data: put them back.
      feedback
        .restoreIfEmpty()
        .then((restore) => {
          if (restore && restore.restored + restore.skipped.length > 0) log.warn({ dir: config.FEEDBACK_DIR, ...restore }, 'Redis held no feedback: restored it from its disk copy');
        })
        .catch((error: unknown) => log.error({ err: error, dir: config.FEEDBACK_DIR }, 'could not restore feedback from its disk copy'));
    });
  }

  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const metricsSource = inCluster ? clusterMetricsSource(metrics) : undefined;
  const shutdown = new AbortController();
  const app = createApp({
    config,
    logger: log,
    jobs,
    redis,
    prefix: config.QUEUE_PREFIX,
    queues: Object.values(queues),
    metrics,
    metricsSource,
    webhooks,
    trainings,
    registry,
    feedback,
    shadowStats: new ShadowStats(redis, config.QUEUE_PREFIX, retention),
    shutdown: shutdown.signal,
  });

  const server = createServer(app);
  applyServerTimeouts(server, { headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS, requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS });
  server.once('error', (error) => {
    log.fatal({ err: error, host: config.HOST, port: config.PORT }, 'cannot listen');
    process.exit(1);
  });
  // Listening before Redis first answers would refuse the first requests with 503 for nothing (commands are not
  // queued while disconnected). Wait for it, but no longer than a command may take: with Redis down the API still
  // starts, says so on /readyz, and answers 503 until Redis is back.
  let listenCalled = false;
  const listen = () => {
    if (listenCalled) return;
    listenCalled = true;
    clearTimeout(startListening);
    server.listen(config.PORT, config.HOST, () => {
      const { port } = server.address() as AddressInfo;
      // In a cluster the primary says "api listening" once every process does.
      log.info({ url: `http://${config.HOST}:${port}` }, inCluster ? 'api process listening' : 'api listening');
    });
  };
  const startListening = setTimeout(listen, config.REDIS_COMMAND_TIMEOUT_MS);
  whenConnected(redis, listen);
  let requestsInFlight = 0;
  server.on('request', (_req, res) => {
    requestsInFlight++;
    res.once('close', () => requestsInFlight--);
  });

  if (inCluster) {
    // Ctrl-C reaches every process of the terminal's group: the primary's SIGTERM is this process's one signal to drain.
    process.on('SIGINT', () => undefined);
  } else {
    // Started by npm start: drain as on SIGTERM when the launcher is gone, however it went.
    exitWhenParentDies(() => process.kill(process.pid, 'SIGTERM'));
  }
  handleShutdownSignals(
    log,
    async (_signal, steps) => {
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      shutdown.abort();
      server.closeIdleConnections();
      await steps.run('finish requests in flight', () => closed);
      const connections = await steps.run('close queues and redis', async () => {
        const closing = [
          closeWithin(
            REDIS_CLOSE_GRACE_MS,
            async () => {
              await events.close();
              await eventsConnection.quit();
            },
            () => {
              void events.disconnect();
              eventsConnection.disconnect();
            },
          ),
          ...Object.values(queues).map((each) => closeWithin(REDIS_CLOSE_GRACE_MS, () => each.close(), () => each.disconnect())),
        ];
        const outcomes = await Promise.all(closing);
        return [...outcomes, await closeWithin(REDIS_CLOSE_GRACE_MS, () => redis.quit(), () => redis.disconnect())];
      });
      if (connections.includes('disconnected')) log.warn({ grace_ms: REDIS_CLOSE_GRACE_MS }, 'redis did not answer at shutdown: connections cut without QUIT');
      await steps.run('export the last spans', () => telemetry.shutdown());
    },
    { timeoutMs: config.SHUTDOWN_TIMEOUT_MS, signals: inCluster ? ['SIGTERM'] : ['SIGTERM', 'SIGINT'], unfinished: () => ({ requests_in_flight: requestsInFlight }) },
  );
}

function main(): void {
  const config = loadConfigOrExit('api');
  // One libvips thread per image and no decode cache: uploads are decoded once each (see configureImaging).
  configureImaging();
  const log = createLogger('api', config.LOG_LEVEL, {}, config.LOG_FORMAT);
  if (cluster.isWorker) {
    serve(config, log);
    return;
  }
  const exposure = checkStart(config);
  if (exposure.refusal !== null) {
    log.fatal({ host: config.HOST }, exposure.refusal);
    process.exit(1);
  }
  for (const warning of exposure.warnings) log.warn(warning);
  if (config.API_PROCESSES === 1) {
    serve(config, log);
    return;
  }
  // Started by npm start: stop the API processes as on SIGTERM when the launcher is gone, however it went.
  exitWhenParentDies(() => process.kill(process.pid, 'SIGTERM'));
  runApiProcesses({ processes: config.API_PROCESSES, shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS, host: config.HOST }, log);
}

main();
