/**
 * Every delivery attempt of a job's webhooks, for GET /v1/jobs/:id/webhooks:
 * a Redis list per job, oldest first, capped, expiring with the job.
 */
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, webhookAttemptSchema, type WebhookAttempt } from '@digitq/contracts';

/** Attempts kept per job; the oldest are dropped first (training progress can produce many). */
export const DELIVERY_LOG_MAX_ENTRIES = 200;

export class WebhookDeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** How long the log outlives its last attempt: the job's own TTL (JOB_RESULT_TTL_S). */
    private readonly ttlS: number,
  ) {}

  private key(jobId: string): string {
    return `${this.prefix}:${QUEUE_NAMES.webhooks}:log:${jobId}`;
  }

  async append(jobId: string, attempt: WebhookAttempt): Promise<void> {
    const key = this.key(jobId);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(attempt))
      .ltrim(key, -DELIVERY_LOG_MAX_ENTRIES, -1)
      .expire(key, this.ttlS)
      .exec();
  }

  /** Oldest first. */
  async list(jobId: string): Promise<WebhookAttempt[]> {
    const entries = await this.redis.lrange(this.key(jobId), 0, -1);
    return entries.map((entry) => webhookAttemptSchema.parse(JSON.parse(entry)));
  }
}
