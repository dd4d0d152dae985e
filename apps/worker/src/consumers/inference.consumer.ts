/**
 * The `inference` queue: one BullMQ Worker whose concurrency lets enough jobs
 * in to fill a micro-batch, a batcher per model version, and the model store
 * that hot-swaps the active version. Jobs it holds for a batch are watched
 * for cancel requests (watchHeldCancels); its job events go to webhooks and
 * to the jobs' event streams. With SHADOW_MODEL, a shadow runner compares a
 * candidate version on a share of the jobs once they are answered (shadow.ts).
 */
import type { Job, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { DEFAULT_MODEL_VARIANT, QUEUE_NAMES, decodePixels, packModelBatch, type InferenceResult, type ModelInfo } from '@digitq/contracts';
import { CancelRequests, JobEventStreams, ShadowStats, createQueue, inferenceJobEvents, queueTelemetry, streamJobEvents } from '@digitq/jobs';
import { classifyBatch, type DigitPrediction } from '@digitq/model';
import { deliverJobWebhooks } from '@digitq/webhooks';
import { BacklogAwareWorker } from '../backlog-aware-worker.ts';
import { occlusionMap } from '../explain.ts';
import { modelLabels, requestedModelLabels } from '../metrics.ts';
import { MicroBatcher } from '../micro-batcher.ts';
import { ModelStore } from '../model-store.ts';
import { CANCELED_AT_CLIENT_REQUEST, createInferenceProcessor, type Classified } from '../processors/inference.processor.ts';
import { ShadowRunner } from '../shadow.ts';
import { logEventError, type Consumer, type ConsumerContext } from './context.ts';

/** How often the jobs a worker holds (waiting for their batch) are checked for cancel requests: a cancel reaches a held job within about this. */
const HELD_CANCEL_POLL_MS = 100;

/**
 * Cancels, through BullMQ's processor signal, the jobs in `held` that got a
 * cancel request (one pipelined read per poll, only while jobs are held):
 * the API records cancels in Redis, the worker holding the job must look.
 * Never throws; a failed poll is logged once until one succeeds again.
 */
function watchHeldCancels(worker: Worker, cancelRequests: CancelRequests, held: ReadonlySet<string>, log: Logger): () => void {
  let polling = false;
  let failing = false;
  const timer = setInterval(() => {
    if (polling || held.size === 0) return;
    polling = true;
    cancelRequests
      .filterRequested([...held])
      .then((canceled) => {
        failing = false;
        for (const id of canceled) worker.cancelJob(id, CANCELED_AT_CLIENT_REQUEST);
      })
      .catch((error: unknown) => {
        if (!failing) log.warn({ err: error }, 'could not check held jobs for cancel requests; retrying');
        failing = true;
      })
      .finally(() => {
        polling = false;
      });
  }, HELD_CANCEL_POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export async function startInferenceConsumer(ctx: ConsumerContext): Promise<Consumer> {
  const { config, log, metrics, connection } = ctx;
  const queue = QUEUE_NAMES.inference;
  const models = new ModelStore({
    modelsDir: config.MODELS_DIR,
    defaultModel: config.DEFAULT_MODEL,
    registry: ctx.registry,
    log,
    pollMs: config.MODEL_POLL_MS,
    engine: { kind: config.INFERENCE_ENGINE, threads: config.INFERENCE_THREADS, device: ctx.device, tfjsBackend: ctx.backendLabel },
    onLoaded: (model, engine) => metrics.engine.set({ engine: engine.engine, threads: engine.threads, engine_backend: engine.backend, model }, 1),
  });
  await models.start();

  const shadow = config.SHADOW_MODEL
    ? new ShadowRunner({
        model: config.SHADOW_MODEL,
        fraction: config.SHADOW_FRACTION,
        load: (ref) => models.get(ref),
        stats: new ShadowStats(connection, config.QUEUE_PREFIX, { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT }),
        metrics,
        log,
      })
    : null;
  if (shadow) log.info({ shadow: config.SHADOW_MODEL, fraction: config.SHADOW_FRACTION }, 'shadow mode: comparing a candidate version on live jobs after they are answered');

  const batchers = new Map<string, MicroBatcher<Uint8Array, DigitPrediction>>();
  const batcherFor = (loaded: { key: string; name: string; version: string; variant: string }, run: (items: Uint8Array[]) => Promise<DigitPrediction[]>) => {
    const { key } = loaded;
    let batcher = batchers.get(key);
    if (!batcher) {
      const labels = modelLabels(loaded);
      batcher = new MicroBatcher({
        maxSize: config.BATCH_MAX_SIZE,
        maxDelayMs: config.BATCH_MAX_DELAY_MS,
        run: async (items) => {
          const end = metrics.computeSeconds.startTimer(labels);
          try {
            return await run(items);
          } finally {
            end();
          }
        },
        onBatch: (size) => metrics.batchSize.observe(labels, size),
        spanAttributes: { 'digitq.model': labels.model, 'digitq.model.version': labels.version },
        // While the queue is empty nothing more is coming to fill a batch: run what is held at once.
        isIdle: () => config.BATCH_IDLE_FLUSH && worker.backlogEmpty,
      });
      batchers.set(key, batcher);
    }
    return batcher;
  };

  const cancelRequests = new CancelRequests(connection, config.QUEUE_PREFIX, queue, config.JOB_RESULT_TTL_S);
  const processInference = createInferenceProcessor({
    cancelRequests,
    workerId: ctx.workerId,
    log,
    minConfidence: config.MIN_CONFIDENCE,
    onJobStart: (job: Job) => metrics.jobQueueSeconds.observe({ queue }, Math.max(0, Date.now() - job.timestamp) / 1000),
    classify: async (ref, images, signal) => {
      const loaded = await models.get(ref);
      // The job's pixel bytes become the model's floats here, once per batch.
      const { results, batchSize, ms } = await batcherFor(loaded, (items) => classifyBatch(loaded.engine, packModelBatch(items))).submit(images, signal);
      // The variant is reported only when it is not fp32, so results of plain versions read as before.
      const model: ModelInfo = { name: loaded.name, version: loaded.version, ...(loaded.variant === DEFAULT_MODEL_VARIANT ? {} : { variant: loaded.variant }) };
      return { predictions: results, model, batchSize, computeMs: ms };
    },
    ...(shadow ? { onClassified: (job: Job, images: Uint8Array[], classified: Classified) => shadow.offer(job.id!, images, classified) } : {}),
  });

  /** The result with the first image's occlusion map for its digit, from the model version that predicted it (POST /predict include=explanation). */
  const explained = async (result: InferenceResult, image: string): Promise<InferenceResult> => {
    const { name, version, variant } = result.model;
    const loaded = await models.get(`${name}@${version}${variant ? `:${variant}` : ''}`);
    // An uncertain answer (prediction null) is explained for the digit the model found most likely.
    const { prediction, probabilities } = result.predictions[0]!;
    const explanation = await occlusionMap(loaded.engine, decodePixels(image), prediction ?? probabilities.indexOf(Math.max(...probabilities)));
    const { engine, backend } = loaded.engine.describe();
    return { ...result, explanation, engine: `${engine} (${backend})` };
  };

  // The jobs this worker has taken and not finished: held for a batch, or (for a few ms) running it.
  const held = new Set<string>();
  const processor: typeof processInference = async (job, token, signal) => {
    held.add(job.id!);
    try {
      const result = await processInference(job, token, signal);
      return job.data.explain === true ? await explained(result, job.data.images[0]!) : result;
    } finally {
      held.delete(job.id!);
    }
  };

  const worker = new BacklogAwareWorker(queue, processor, {
    connection: connection.duplicate(),
    prefix: config.QUEUE_PREFIX,
    concurrency: ctx.concurrency,
    lockDuration: config.WORKER_LOCK_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    name: ctx.workerId,
    telemetry: queueTelemetry(),
  });
  worker.on('drained', () => {
    if (config.BATCH_IDLE_FLUSH) for (const batcher of batchers.values()) batcher.flushIdle();
  });
  worker.on('completed', (job) => {
    metrics.jobs.inc({ queue, outcome: 'succeeded' });
    metrics.inferenceRequests.inc({ ...modelLabels(job.returnvalue.model), outcome: 'succeeded' });
    if (job.processedOn && job.finishedOn) metrics.jobSeconds.observe({ queue, outcome: 'succeeded' }, (job.finishedOn - job.processedOn) / 1000);
    log.debug({ job: job.id, batch: job.returnvalue?.batch_images }, 'job succeeded');
    // Only now, with the answer recorded, may the shadow model read the job.
    shadow?.completed(job.id!);
  });
  worker.on('failed', (job, error) => {
    metrics.jobs.inc({ queue, outcome: 'failed' });
    metrics.inferenceRequests.inc({ ...requestedModelLabels(job?.data.model, config.DEFAULT_MODEL), outcome: 'failed' });
    log.warn({ job: job?.id, attempts: job?.attemptsMade, err: error }, 'job failed');
    if (job?.id) shadow?.forget(job.id);
  });
  worker.on('stalled', (jobId) => log.warn({ job: jobId }, 'job stalled (its worker stopped renewing the lock); it will be retried'));
  ctx.health.watch('inference-worker', worker);
  const stopWatchingCancels = watchHeldCancels(worker, cancelRequests, held, log);

  // The worker that runs a job publishes its events (see JobEventSource); webhooks subscribe.
  const webhookQueue = createQueue(QUEUE_NAMES.webhooks, connection, config.QUEUE_PREFIX, { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT });
  ctx.health.watch('inference-webhook-queue', webhookQueue);
  const events = inferenceJobEvents({ cancelRequests, defaultModel: config.DEFAULT_MODEL, onError: logEventError(log) }).watch(worker);
  deliverJobWebhooks(events, { queue: webhookQueue, redis: connection, retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS, log });
  streamJobEvents(events, new JobEventStreams(connection, config.QUEUE_PREFIX, queue), logEventError(log));

  return {
    queue,
    ready: () => worker.waitUntilReady().then(() => undefined),
    models: () => models.servingKeys(),
    engine: () => models.defaultEngine(),
    async close() {
      // close() stops fetching and waits for active jobs, whose batches flush on their timer.
      await Promise.all([worker.close(), ...[...batchers.values()].map((b) => b.drain())]);
      stopWatchingCancels();
      await shadow?.close();
      await webhookQueue.close();
      await models.dispose();
    },
  };
}
