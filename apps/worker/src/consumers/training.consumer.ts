/**
 * The `training` queue: one training at a time per worker process (it uses
 * the whole core), with a long lock renewed between batches.
 */
import { Worker } from 'bullmq';
import { QUEUE_NAMES, type TrainingJobData, type TrainingResult } from '@digitq/contracts';
import { degradeForTraining, preprocessDigitImage } from '@digitq/imaging';
import { CancelRequests, FeedbackStore, JobEventStreams, createQueue, queueTelemetry, streamJobEvents, trainingJobEvents } from '@digitq/jobs';
import { deliverJobWebhooks } from '@digitq/webhooks';
import { createTrainingProcessor } from '../processors/training.processor.ts';
import { logEventError, type Consumer, type ConsumerContext } from './context.ts';

/** A progress event's sequence: epochs apart by more than any epoch's batch count. */
const PROGRESS_SEQUENCE_PER_EPOCH = 1_000_000;

export function startTrainingConsumer(ctx: ConsumerContext): Consumer {
  const { config, log, connection, metrics } = ctx;
  const queue = QUEUE_NAMES.training;
  const cancelRequests = new CancelRequests(connection, config.QUEUE_PREFIX, queue, config.JOB_RESULT_TTL_S);
  const webhookQueue = createQueue(QUEUE_NAMES.webhooks, connection, config.QUEUE_PREFIX, { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT });
  ctx.health.watch('training-webhook-queue', webhookQueue);
  // The worker that runs a training publishes its events (see JobEventSource); webhooks subscribe.
  const events = trainingJobEvents({ cancelRequests, onError: logEventError(log) });
  deliverJobWebhooks(events, { queue: webhookQueue, redis: connection, retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS, log });
  streamJobEvents(events, new JobEventStreams(connection, config.QUEUE_PREFIX, QUEUE_NAMES.training), logEventError(log));

  const shutdown = new AbortController();
  const worker = new Worker<TrainingJobData, TrainingResult>(
    queue,
    createTrainingProcessor({
      dataDir: config.DATA_DIR,
      mnistBaseUrl: config.MNIST_BASE_URL,
      trainingDataRoot: config.TRAINING_DATA_ROOT,
      runsDir: config.TRAINING_RUNS_DIR,
      modelsDir: config.MODELS_DIR,
      autoPromote: config.AUTO_PROMOTE,
      promoteMnistTolerance: config.PROMOTE_MNIST_TOLERANCE,
      reportSuiteCount: config.REPORT_SUITE_COUNT,
      registry: ctx.registry,
      // Training and reports read every owner's corrections; only the API adds and deletes them.
      feedback: new FeedbackStore(connection, config.QUEUE_PREFIX, { maxPerOwner: config.FEEDBACK_MAX_PER_OWNER, dir: config.FEEDBACK_DIR }),
      cancelRequests,
      decodeImage: async (bytes) => (await preprocessDigitImage(bytes)).pixels,
      degrade: degradeForTraining,
      backendLabel: ctx.backendLabel,
      workerId: ctx.workerId,
      log,
      shutdown: shutdown.signal,
      onProgress: (job, progress) => events.progress(job, progress, progress.progress.epoch * PROGRESS_SEQUENCE_PER_EPOCH + progress.progress.batch),
    }),
    {
      connection: connection.duplicate(),
      prefix: config.QUEUE_PREFIX,
      concurrency: 1,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
      name: ctx.workerId,
      telemetry: queueTelemetry(),
    },
  );
  events.watch(worker);
  worker.on('completed', (job) => {
    metrics.jobs.inc({ queue, outcome: 'succeeded' });
    if (job.processedOn && job.finishedOn) metrics.jobSeconds.observe({ queue, outcome: 'succeeded' }, (job.finishedOn - job.processedOn) / 1000);
  });
  worker.on('failed', (job, error) => {
    metrics.jobs.inc({ queue, outcome: 'failed' });
    log.warn({ job: job?.id, err: error }, 'training failed');
  });
  ctx.health.watch('training-worker', worker);
  return {
    queue,
    ready: () => worker.waitUntilReady().then(() => undefined),
    async close() {
      shutdown.abort();
      await worker.close();
      await webhookQueue.close();
    },
  };
}
