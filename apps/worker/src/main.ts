/**
 * npm run worker -- --device cpu|gpu --queues inference[,training,webhooks] [--concurrency N] [--metrics-port P]
 *
 * A worker process: picks its TensorFlow.js backend, loads the default model
 * once, and consumes the named queues until SIGTERM/SIGINT. Workers on any
 * number of machines share the work through the same Redis.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker, type Job } from 'bullmq';
import { ConfigError, loadConfig } from '@digitq/config';
import { QUEUE_NAMES } from '@digitq/contracts';
import { CancelRequests, createRedisConnection } from '@digitq/jobs';
import { initBackend, predictDigits, type DigitPrediction } from '@digitq/model';
import { createLogger, handleShutdownSignals } from '@digitq/service';
import { MicroBatcher } from './micro-batcher.ts';
import { ModelStore } from './model-store.ts';
import { createWorkerMetrics, serveMetrics } from './metrics.ts';
import { createInferenceProcessor } from './processors/inference.processor.ts';

const DEVICES = ['cpu', 'gpu'] as const;
const SUPPORTED_QUEUES = [QUEUE_NAMES.inference] as const;

function fail(message: string): never {
  process.stderr.write(`worker: ${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error instanceof ConfigError ? error.message : String(error));
  }
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
  const queues = values.queues.split(',').map((q) => q.trim()).filter(Boolean);
  for (const q of queues) {
    if (!(SUPPORTED_QUEUES as readonly string[]).includes(q)) fail(`--queues: unknown queue ${JSON.stringify(q)} (known: ${SUPPORTED_QUEUES.join(', ')})`);
  }
  const concurrency = values.concurrency ? Number(values.concurrency) : config.BATCH_MAX_SIZE;
  if (!Number.isInteger(concurrency) || concurrency < 1) fail('--concurrency must be a positive integer');

  const workerId = `${hostname()}-${process.pid}-${device}`;
  const log = createLogger('worker', config.LOG_LEVEL, { worker: workerId });

  if (device === 'cpu' && config.TF_BACKEND === 'gpu') fail('TF_BACKEND=gpu needs --device gpu');
  let backend;
  try {
    backend = await initBackend(device === 'gpu' ? 'gpu' : config.TF_BACKEND);
  } catch (error) {
    fail((error as Error).message);
  }
  log.info({ backend: backend.label, device, queues, concurrency }, 'tensorflow.js backend ready');

  const metrics = createWorkerMetrics({ device, backend: backend.label });
  const metricsServer = values['metrics-port'] ? await serveMetrics(metrics.registry, Number(values['metrics-port']), config.HOST) : null;

  const models = new ModelStore(config.MODELS_DIR, config.DEFAULT_MODEL, log);
  try {
    await models.get(null);
  } catch (error) {
    fail(`cannot load the default model ${config.DEFAULT_MODEL} from ${config.MODELS_DIR}: ${(error as Error).message}`);
  }

  const batchers = new Map<string, MicroBatcher<Float32Array, DigitPrediction>>();
  const batcherFor = (key: string, run: (items: Float32Array[]) => Promise<DigitPrediction[]>) => {
    let batcher = batchers.get(key);
    if (!batcher) {
      batcher = new MicroBatcher({
        maxSize: config.BATCH_MAX_SIZE,
        maxDelayMs: config.BATCH_MAX_DELAY_MS,
        run: async (items) => {
          const end = metrics.batchSeconds.startTimer();
          try {
            return await run(items);
          } finally {
            end();
          }
        },
        onBatch: (size) => metrics.batchSize.observe(size),
      });
      batchers.set(key, batcher);
    }
    return batcher;
  };

  const connection = createRedisConnection(config.REDIS_URL);
  connection.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  const cancelRequests = new CancelRequests(connection, config.QUEUE_PREFIX, QUEUE_NAMES.inference, config.JOB_RESULT_TTL_S);

  const processor = createInferenceProcessor({
    cancelRequests,
    workerId,
    log,
    onJobStart: (job: Job) => metrics.jobWaitSeconds.observe({ queue: QUEUE_NAMES.inference }, Math.max(0, Date.now() - job.timestamp) / 1000),
    classify: async (ref, images) => {
      const loaded = await models.get(ref);
      const { results, batchSize } = await batcherFor(loaded.key, (items) => predictDigits(loaded.model, items)).submit(images);
      return { predictions: results, model: { name: loaded.name, version: loaded.version }, batchSize };
    },
  });

  const worker = new Worker(QUEUE_NAMES.inference, processor, {
    connection: connection.duplicate(),
    prefix: config.QUEUE_PREFIX,
    concurrency,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    name: workerId,
  });
  worker.on('completed', (job) => {
    metrics.jobs.inc({ queue: QUEUE_NAMES.inference, outcome: 'succeeded' });
    if (job.processedOn && job.finishedOn) metrics.jobSeconds.observe({ queue: QUEUE_NAMES.inference, outcome: 'succeeded' }, (job.finishedOn - job.processedOn) / 1000);
    log.debug({ job: job.id, batch: job.returnvalue?.batch_images }, 'job succeeded');
  });
  worker.on('failed', (job, error) => {
    metrics.jobs.inc({ queue: QUEUE_NAMES.inference, outcome: 'failed' });
    log.warn({ job: job?.id, attempts: job?.attemptsMade, err: error }, 'job failed');
  });
  worker.on('stalled', (jobId) => log.warn({ job: jobId }, 'job stalled (its worker stopped renewing the lock); it will be retried'));
  worker.on('error', (error) => log.error({ err: error }, 'worker error'));
  await worker.waitUntilReady();
  log.info({ redis: config.REDIS_URL, prefix: config.QUEUE_PREFIX }, 'worker consuming');

  handleShutdownSignals(log, async () => {
    // close() stops fetching and waits for active jobs, whose batches flush on their timer.
    await Promise.all([worker.close(), ...[...batchers.values()].map((b) => b.drain())]);
    await models.dispose();
    await connection.quit();
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
  });
}

main().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
