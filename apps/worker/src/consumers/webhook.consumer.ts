/**
 * The `webhooks` queue: deliveries wait on other people's servers, so they
 * run in a Worker of their own and never hold up inference.
 */
import { Worker } from 'bullmq';
import { QUEUE_NAMES } from '@digitq/contracts';
import { queueTelemetry } from '@digitq/jobs';
import { WebhookDeliveryLog, WebhookSecrets, WebhookUrlGuard, webhookBackoffStrategy } from '@digitq/webhooks';
import { createWebhookProcessor } from '../processors/webhook.processor.ts';
import type { Consumer, ConsumerContext } from './context.ts';

export function startWebhookConsumer(ctx: ConsumerContext): Consumer {
  const { config, log, connection } = ctx;
  const worker = new Worker(
    QUEUE_NAMES.webhooks,
    createWebhookProcessor({
      guard: new WebhookUrlGuard({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE }),
      secrets: new WebhookSecrets(connection, config.QUEUE_PREFIX, config.WEBHOOK_SECRET),
      deliveries: new WebhookDeliveryLog(connection, config.QUEUE_PREFIX, config.JOB_RESULT_TTL_S),
      timeoutMs: config.WEBHOOK_TIMEOUT_MS,
      log,
      onAttempt: (attempt) => {
        ctx.metrics.webhookAttempts.inc({ event: attempt.event, outcome: attempt.outcome });
        ctx.metrics.webhookAttemptSeconds.observe({ outcome: attempt.outcome }, attempt.duration_ms / 1000);
      },
    }),
    {
      connection: connection.duplicate(),
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WEBHOOK_CONCURRENCY,
      maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
      name: ctx.workerId,
      telemetry: queueTelemetry(),
      settings: {
        backoffStrategy: webhookBackoffStrategy({ retryScheduleMs: config.WEBHOOK_RETRY_SCHEDULE_MS, retryAfterMaxMs: config.WEBHOOK_RETRY_AFTER_MAX_MS }),
      },
    },
  );
  ctx.health.watch('webhook-worker', worker);
  return {
    queue: QUEUE_NAMES.webhooks,
    ready: () => worker.waitUntilReady().then(() => undefined),
    close: () => worker.close(),
  };
}
