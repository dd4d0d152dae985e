/**
 * npm run worker -- --device cpu|gpu --queues inference[,training,webhooks] [--concurrency N] [--metrics-port P]
 *
 * A worker process: picks its TensorFlow.js backend, then consumes the named
 * queues until SIGTERM/SIGINT. Workers on any number of machines share the
 * work through the same Redis; GPU and CPU workers take from the same queues.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { QUEUE_NAMES, type WorkerHeartbeat } from '@digitq/contracts';
import { createRedisConnection, modelInfoFromKey, startWorkerHeartbeat } from '@digitq/jobs';
import { initBackend } from '@digitq/model';
import { configureImaging } from '@digitq/imaging';
import { ModelRegistry } from '@digitq/registry';
import { ConnectionHealth, closeWithin, createLogger, exitWhenParentDies, handleShutdownSignals, loadConfigOrExit, startTelemetry, urlForLog } from '@digitq/service';
import type { Consumer, ConsumerContext } from './consumers/context.ts';
import { startInferenceConsumer } from './consumers/inference.consumer.ts';
import { startTrainingConsumer } from './consumers/training.consumer.ts';
import { startWebhookConsumer } from './consumers/webhook.consumer.ts';
import { createWorkerMetrics, serveMetrics } from './metrics.ts';

const DEVICES = ['cpu', 'gpu'] as const;
/** At shutdown, how long removing the heartbeat and QUIT may take before Redis is given up on (it may be unreachable). */
const REDIS_CLOSE_GRACE_MS = 1000;
const CONSUMERS: Record<string, (ctx: ConsumerContext) => Consumer | Promise<Consumer>> = {
  [QUEUE_NAMES.inference]: startInferenceConsumer,
  [QUEUE_NAMES.training]: startTrainingConsumer,
  [QUEUE_NAMES.webhooks]: startWebhookConsumer,
};

function fail(message: string): never {
  process.stderr.write(`worker: ${message}\n`);
  process.exit(1);
}

/** The inference engine of this process, as heartbeats report it. */
function engineOf(consumers: readonly Consumer[]): WorkerHeartbeat['engine'] {
  const described = consumers.map((c) => c.engine?.()).find((d) => d);
  return described ? { engine: described.engine, threads: described.threads, backend: described.backend } : undefined;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('worker');
  // Before any queue or worker exists: BullMQ's spans go to the provider registered here.
  const telemetry = startTelemetry('digitq-worker', config);
  // One libvips thread per image and no decode cache: uploads are decoded once each (see configureImaging).
  configureImaging();
  const { values } = parseArgs({
    options: {
      device: { type: 'string', default: 'cpu' },
      queues: { type: 'string', default: QUEUE_NAMES.inference },
      concurrency: { type: 'string' },
      'metrics-port': { type: 'string' },
    },
  });
  const device = values.device as (typeof DEVICES)[number];
  if (!DEVICES.includes(device)) fail(`--device must be one of ${DEVICES.join(', ')}`);
  const queues = [...new Set(values.queues.split(',').map((q) => q.trim()).filter(Boolean))];
  if (queues.length === 0) fail('--queues names no queue');
  for (const q of queues) if (!CONSUMERS[q]) fail(`--queues: unknown queue ${JSON.stringify(q)} (known: ${Object.keys(CONSUMERS).join(', ')})`);
  const concurrency = values.concurrency ? Number(values.concurrency) : config.BATCH_MAX_SIZE;
  if (!Number.isInteger(concurrency) || concurrency < 1) fail('--concurrency must be a positive integer');

  const workerId = `${hostname()}-${process.pid}-${device}`;
  const log = createLogger('worker', config.LOG_LEVEL, { worker: workerId }, config.LOG_FORMAT);

  if (device === 'cpu' && config.TF_BACKEND === 'gpu') fail('TF_BACKEND=gpu needs --device gpu');
  // Training on a GPU needs tfjs's GPU backend; inference on a GPU needs a GPU engine (ONNX Runtime's CUDA provider
  // or tfjs-node-gpu), which the model store checks when it loads a model: no silent CPU fallback either way.
  const trains = queues.includes(QUEUE_NAMES.training);
  const backend = await initBackend(device === 'gpu' && trains ? 'gpu' : config.TF_BACKEND).catch((error: Error) => fail(error.message));
  log.info({ backend: backend.label, device, queues, concurrency }, 'tensorflow.js backend ready');

  const metrics = createWorkerMetrics({ device, backend: backend.label });
  const metricsServer = values['metrics-port'] ? await serveMetrics(metrics.registry, Number(values['metrics-port']), config.HOST) : null;

  const connection = createRedisConnection({ url: config.REDIS_URL, clusterNodes: config.REDIS_CLUSTER_NODES });
  // One line when Redis is lost and one when it is back, whatever the number of connections and attempts.
  const health = new ConnectionHealth(log);
  health.watch('redis', connection);
  const ctx: ConsumerContext = {
    config,
    log,
    connection,
    health,
    registry: new ModelRegistry(connection, config.QUEUE_PREFIX, config.MODELS_DIR),
    metrics,
    workerId,
    device,
    backendLabel: backend.label,
    concurrency,
  };

  const consumers: Consumer[] = [];
  for (const queue of queues) {
    try {
      consumers.push(await CONSUMERS[queue]!(ctx));
    } catch (error) {
      fail(`cannot start the ${queue} consumer: ${(error as Error).message}`);
    }
  }
  await Promise.all(consumers.map((c) => c.ready()));
  log.info({ redis: config.REDIS_CLUSTER_NODES ? { cluster: config.REDIS_CLUSTER_NODES } : urlForLog(config.REDIS_URL), prefix: config.QUEUE_PREFIX, queues }, 'worker consuming');

  // What the API's /readyz, GET /v1/workers and /metrics know of this process (packages/jobs worker-heartbeats.ts).
  const startedAt = new Date().toISOString();
  const heartbeat = startWorkerHeartbeat({
    redis: connection,
    prefix: config.QUEUE_PREFIX,
    read: () => ({
      id: workerId,
      hostname: hostname(),
      pid: process.pid,
      device,
      backend: backend.label,
      engine: engineOf(consumers),
      queues,
      models: consumers.flatMap((c) => c.models?.() ?? []).map(modelInfoFromKey),
      started_at: startedAt,
      at: new Date().toISOString(),
    }),
    onError: (error) => log.warn({ err: error }, 'could not write the worker heartbeat'),
  });

  // Started by npm start: drain as on SIGTERM when the launcher is gone, however it went.
  exitWhenParentDies(() => process.kill(process.pid, 'SIGTERM'));
  handleShutdownSignals(
    log,
    async (_signal, steps) => {
      // Out of readiness first, so load balancers stop counting on this worker while it drains.
      await steps.run('remove the heartbeat', () => closeWithin(REDIS_CLOSE_GRACE_MS, () => heartbeat.stop(), () => undefined));
      if (health.outage) {
        // A job finished now could not be recorded: its lock lapses and another worker runs it again.
        log.warn({ queues }, 'redis is unreachable: not waiting for active jobs, which will be retried');
      } else {
        await Promise.all(consumers.map((c) => steps.run(`close the ${c.queue} consumer (its active jobs finish first)`, () => c.close())));
      }
      await steps.run('close redis', () => closeWithin(REDIS_CLOSE_GRACE_MS, () => connection.quit(), () => connection.disconnect()));
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await steps.run('export the last spans', () => telemetry.shutdown());
    },
    { timeoutMs: config.SHUTDOWN_TIMEOUT_MS },
  );
}

main().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
