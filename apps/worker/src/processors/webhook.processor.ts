/**
 * Processes `deliver-webhook` jobs: one attempt per run. Checks the URL again
 * (DNS may have changed since submit), signs the body for this attempt, POSTs
 * it to the vetted address, records the attempt in the job's delivery log,
 * and tells BullMQ what happens next:
 *
 *   2xx                      delivered; the delivery job completes
 *   410 Gone                 UnrecoverableError: the receiver asked us to stop
 *   URL refused              UnrecoverableError: it will not become acceptable
 *   other status, network    WebhookAttemptError: BullMQ retries on the schedule
 *   error, timeout, 3xx      (webhookBackoffStrategy), or fails the job after the last attempt
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  formatFailedReason,
  webhookDeliveryJobDataSchema,
  type WebhookAttempt,
  type WebhookAttemptOutcome,
  type WebhookDeliveryJobData,
  type WebhookDeliveryResult,
} from '@digitq/contracts';
import {
  WebhookAttemptError,
  WebhookUrlRefusedError,
  parseRetryAfter,
  postWebhook,
  webhookHeaders,
  type WebhookDeliveryLog,
  type WebhookSecrets,
  type WebhookUrlGuard,
} from '@digitq/webhooks';

export interface WebhookProcessorDeps {
  guard: WebhookUrlGuard;
  secrets: WebhookSecrets;
  deliveries: WebhookDeliveryLog;
  /** WEBHOOK_TIMEOUT_MS. */
  timeoutMs: number;
  log: Logger;
  /** Called with every attempt as it is logged (metrics). */
  onAttempt?: (attempt: WebhookAttempt) => void;
}

const HTTP_GONE = 410;
const MS_PER_S = 1000;

/** What one attempt came back with, before deciding what it means. */
type AttemptResult =
  | { statusCode: number; error: string | null; retryAfterMs: number | null; refused: false }
  | { statusCode: null; error: string; retryAfterMs: null; refused: boolean };

function isSuccess(statusCode: number | null): boolean {
  return statusCode !== null && statusCode >= 200 && statusCode < 300;
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join('; ');
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

/** The URL without its query: webhook URLs often carry a token there, which has no place in logs. */
function receiverOf(url: string): string {
  try {
    const { origin, pathname } = new URL(url);
    return `${origin}${pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function outcomeOf(result: AttemptResult, lastAttempt: boolean): WebhookAttemptOutcome {
  if (isSuccess(result.statusCode)) return 'delivered';
  if (result.statusCode === HTTP_GONE) return 'gone';
  if (result.refused || lastAttempt) return 'failed';
  return 'retrying';
}

export function createWebhookProcessor(deps: WebhookProcessorDeps) {
  async function attempt(delivery: WebhookDeliveryJobData): Promise<AttemptResult> {
    let target;
    try {
      target = await deps.guard.resolve(delivery.url);
    } catch (error) {
      // A host that does not resolve now may later; a refused URL never will.
      return { statusCode: null, error: describeError(error), retryAfterMs: null, refused: error instanceof WebhookUrlRefusedError };
    }
    const body = JSON.stringify(delivery.payload);
    const { secrets } = await deps.secrets.current();
    const headers = webhookHeaders(secrets, delivery.webhook_id, Math.floor(Date.now() / MS_PER_S), body);
    try {
      const response = await postWebhook(target, headers, body, deps.timeoutMs);
      const { statusCode } = response;
      let error: string | null = null;
      // Without its query, like receiverOf: this text is logged and kept in the job's delivery log.
      if (statusCode >= 300 && statusCode < 400) error = `redirect (${statusCode}) to ${response.headers.location?.split(/[?#]/)[0] ?? 'nowhere'} not followed`;
      else if (statusCode === HTTP_GONE) error = 'receiver answered 410 Gone';
      else if (!isSuccess(statusCode)) error = `receiver answered ${statusCode}`;
      return { statusCode, error, retryAfterMs: parseRetryAfter(response.headers['retry-after'], Date.now()), refused: false };
    } catch (error) {
      return { statusCode: null, error: describeError(error), retryAfterMs: null, refused: false };
    }
  }

  return async function processWebhook(job: Job<WebhookDeliveryJobData, WebhookDeliveryResult>): Promise<WebhookDeliveryResult> {
    const parsed = webhookDeliveryJobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', `delivery payload is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`));
    }
    const delivery = parsed.data;
    const number = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const at = new Date();
    const started = performance.now();
    const result = await attempt(delivery);
    const outcome = outcomeOf(result, number >= attempts);
    const entry: WebhookAttempt = {
      event: delivery.payload.type,
      webhook_id: delivery.webhook_id,
      attempt: number,
      at: at.toISOString(),
      status_code: result.statusCode,
      duration_ms: Math.round(performance.now() - started),
      error: result.error,
      outcome,
    };
    deps.onAttempt?.(entry);
    try {
      await deps.deliveries.append(delivery.job_id, entry);
    } catch (error) {
      // The log is for people; losing a line must not turn a delivery into a retry.
      deps.log.error({ err: error, webhook: delivery.webhook_id }, 'could not record webhook attempt');
    }
    const fields = {
      webhook: delivery.webhook_id,
      job: delivery.job_id,
      event: entry.event,
      receiver: receiverOf(delivery.url),
      attempt: number,
      attempts,
      status: result.statusCode,
      error: result.error,
    };
    switch (outcome) {
      case 'delivered':
        deps.log.info(fields, 'webhook delivered');
        return { status_code: result.statusCode!, attempt: number };
      case 'gone':
        deps.log.warn(fields, 'webhook receiver answered 410 Gone: no more attempts');
        throw new UnrecoverableError(formatFailedReason('WEBHOOK_GONE', result.error!));
      case 'failed':
        deps.log.error(fields, result.refused ? 'webhook URL refused at delivery: not delivered' : `webhook delivery failed after ${number} attempts: giving up`);
        throw result.refused
          ? new UnrecoverableError(formatFailedReason('WEBHOOK_URL_REFUSED', result.error!))
          : new Error(formatFailedReason('WEBHOOK_FAILED', result.error!));
      case 'retrying':
        deps.log.warn(fields, 'webhook attempt failed; will retry');
        throw new WebhookAttemptError(formatFailedReason('WEBHOOK_FAILED', result.error!), result.retryAfterMs);
    }
  };
}
