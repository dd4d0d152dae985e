/**
 * The `training` queue: one training at a time per worker process (it uses
 * the whole core), with a long lock renewed between batches.
 */
import { Worker, type Job } from 'bullmq';
import { QUEUE_NAMES, type TrainingJobData, type TrainingResult, type WebhookEvent } from '@digitq/contracts';
import { preprocessDigitImage } from '@digitq/imaging';
import { CancelRequests, createQueue, trainingViewOf } from '@digitq/jobs';
import { enqueueWebhookEvent } from '@digitq/webhooks';
import { createTrainingProcessor } from '../processors/training.processor.ts';
import type { Consumer, ConsumerContext } from './context.ts';

export function startTrainingConsumer(ctx: ConsumerContext): Consumer {
  const { config, log, connection, metrics } = ctx;
  const queue = QUEUE_NAMES.training;
  const cancelRequests = new CancelRequests(connection, config.QUEUE_PREFIX, queue, config.JOB_RESULT_TTL_S);
  const webhookQueue = createQueue(QUEUE_NAMES.webhooks, connection, config.QUEUE_PREFIX, { resultTtlS: config.JOB_RESULT_TTL_S, maxCount: config.JOB_RETENTION_COUNT });
  ctx.health.watch('training-webhook-queue', webhookQueue);
  const webhookDeps = { queue: webhookQueue, redis: connection, retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS };
  // Like inference's job events: emitted by the worker that runs the training, right after the state change.
  /** `data` resolves undefined when there is nothing to send after all. */
  const emit = (job: Job<TrainingJobData, TrainingResult>, event: WebhookEvent, data: () => Promise<unknown>, sequence?: number) => {
    if (!job.data.webhook?.events.includes(event)) return;
    data()
      .then((body) => body === undefined ? null : enqueueWebhookEvent(webhookDeps, { jobId: job.id!, webhook: job.data.webhook, event, data: body, sequence }))
      .catch((error: unknown) => log.error({ err: error, job: job.id, event }, 'could not enqueue webhook event'));
  };
  const viewNow = async (job: Job<TrainingJobData, TrainingResult>, state: string) =>
    trainingViewOf(job, state, await cancelRequests.requestedAt(job.id!));

  const shutdown = new AbortController();
  const worker = new Worker<TrainingJobData, TrainingResult>(
    queue,
    createTrainingProcessor({
      dataDir: config.DATA_DIR,
      trainingDataRoot: config.TRAINING_DATA_ROOT,
      runsDir: config.TRAINING_RUNS_DIR,
      modelsDir: config.MODELS_DIR,
      autoPromote: config.AUTO_PROMOTE,
      registry: ctx.registry,
      cancelRequests,
      decodeImage: async (bytes) => (await preprocessDigitImage(bytes)).pixels,
      backendLabel: ctx.backendLabel,
      workerId: ctx.workerId,
      log,
      shutdown: shutdown.signal,
      onProgress: (job, progress) => {
        const p = progress.progress;
        emit(job, 'training.progress', async () => ({ id: job.id, ...progress }), p.epoch * 1_000_000 + p.batch);
      },
    }),
    {
      connection: connection.duplicate(),
      prefix: config.QUEUE_PREFIX,
      concurrency: 1,
      lockDuration: config.WORKER_LOCK_MS,
      stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
      name: ctx.workerId,
    },
  );
  worker.on('active', (job) => emit(job, 'job.started', () => viewNow(job, 'active')));
  worker.on('completed', (job) => {
    emit(job, 'training.completed', () => viewNow(job, 'completed'));
    metrics.jobs.inc({ queue, outcome: 'succeeded' });
    if (job.processedOn && job.finishedOn) metrics.jobSeconds.observe({ queue, outcome: 'succeeded' }, (job.finishedOn - job.processedOn) / 1000);
  });
  worker.on('failed', (job, error) => {
    // 'failed' fires for every failed attempt; only a job now in the failed set is finished.
    if (job) emit(job, 'training.completed', async () => ((await job.getState()) === 'failed' ? viewNow(job, 'failed') : undefined));
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
