/**
 * When to try a delivery again. Retries are BullMQ's own: each delivery job
 * has `attempts` = the schedule's length and a custom backoff type, and the
 * worker's `settings.backoffStrategy` (webhookBackoffStrategy) picks the delay
 * from the schedule. BullMQ then keeps the job in its delayed set between
 * attempts, counts attempts, survives worker restarts, and parks the job in
 * the failed set once the schedule is used up — nothing of that is ours to
 * get wrong, which re-enqueueing a new job per attempt would make it.
 */
import type { BackoffStrategy } from 'bullmq';

/** The backoff type of delivery jobs; the webhook worker's backoffStrategy serves it. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook-schedule';
/** Each scheduled delay is moved by up to ±10% so that many deliveries failing together do not retry together. */
export const RETRY_JITTER = 0.1;
const MS_PER_S = 1000;

/**
 * A failed attempt that may be retried. `retryAfterMs` is what the
 * receiver's Retry-After header asked for, if anything.
 */
export class WebhookAttemptError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'WebhookAttemptError';
  }
}

/** Delay before the attempt after `attemptsMade` attempts: schedule[attemptsMade] (the last entry past the end), jittered. */
export function scheduledDelayMs(scheduleMs: readonly number[], attemptsMade: number, random: () => number = Math.random): number {
  const base = scheduleMs[Math.min(attemptsMade, scheduleMs.length - 1)] ?? 0;
  return Math.round(base * (1 + (random() * 2 - 1) * RETRY_JITTER));
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `nowMs`; null when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  const text = value?.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text) * MS_PER_S;
  // HTTP dates name a day or month ("Thu, 01 Jan 2026 00:00:00 GMT"); Date.parse alone would also take "-5" as a year.
  if (!/[a-z]/i.test(text)) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}

export interface WebhookBackoffOptions {
  retryScheduleMs: readonly number[];
  /** Longest Retry-After honoured (WEBHOOK_RETRY_AFTER_MAX_MS). */
  retryAfterMaxMs: number;
  random?: () => number;
}

/**
 * The webhook worker's backoffStrategy. BullMQ passes the attempts made so
 * far (1 after the first failure). A receiver's Retry-After can lengthen the
 * wait, up to the cap, never shorten it.
 */
export function webhookBackoffStrategy(options: WebhookBackoffOptions): BackoffStrategy {
  return (attemptsMade, _type, error) => {
    const scheduled = scheduledDelayMs(options.retryScheduleMs, attemptsMade, options.random);
    const asked = error instanceof WebhookAttemptError && error.retryAfterMs !== null ? Math.min(error.retryAfterMs, options.retryAfterMaxMs) : 0;
    return Math.max(scheduled, asked);
  };
}
