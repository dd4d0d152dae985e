/**
 * The `training` queue: one training at a time per worker process (it uses
 * the whole core), with a long lock renewed between batches.
 */
import { Worker } from 'bullmq';
import { QUEUE_NAMES } from '@digitq/contracts';
import { preprocessDigitImage } from '@digitq/imaging';
import { CancelRequests } from '@digitq/jobs';
import { createTrainingProcessor } from '../processors/training.processor.ts';
import type { Consumer, ConsumerContext } from './context.ts';

export function startTrainingConsumer(ctx: ConsumerContext): Consumer {
  const { config, log, connection, metrics } = ctx;
  const queue = QUEUE_NAMES.training;
  const worker = new Worker(
    queue,
    createTrainingProcessor({
      dataDir: config.DATA_DIR,
      trainingDataRoot: config.TRAINING_DATA_ROOT,
      runsDir: config.TRAINING_RUNS_DIR,
      modelsDir: config.MODELS_DIR,
      autoPromote: config.AUTO_PROMOTE,
      registry: ctx.registry,
      cancelRequests: new CancelRequests(connection, config.QUEUE_PREFIX, queue, config.JOB_RESULT_TTL_S),
      decodeImage: async (bytes) => (await preprocessDigitImage(bytes)).pixels,
      backendLabel: ctx.backendLabel,
      workerId: ctx.workerId,
      log,
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
  worker.on('completed', (job) => {
    metrics.jobs.inc({ queue, outcome: 'succeeded' });
    if (job.processedOn && job.finishedOn) metrics.jobSeconds.observe({ queue, outcome: 'succeeded' }, (job.finishedOn - job.processedOn) / 1000);
  });
  worker.on('failed', (job, error) => {
    metrics.jobs.inc({ queue, outcome: 'failed' });
    log.warn({ job: job?.id, err: error }, 'training failed');
  });
  worker.on('error', (error) => log.error({ err: error }, 'training worker error'));
  return {
    queue,
    ready: () => worker.waitUntilReady().then(() => undefined),
    close: () => worker.close(),
  };
}
