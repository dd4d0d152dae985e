/**
 * The secrets deliveries are signed with: WEBHOOK_SECRET when set, else one
 * generated on first use and kept in Redis. SET NX makes every API and worker
 * process agree on the same one, whoever starts first.
 */
import type { Redis } from 'ioredis';
import { QUEUE_NAMES } from '@digitq/contracts';
import { generateWebhookSecret } from './signing.ts';

export interface CurrentWebhookSecrets {
  secrets: readonly string[];
  /** True when WEBHOOK_SECRET is unset and `secrets` is the generated one from Redis. */
  generated: boolean;
}

export class WebhookSecrets {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** WEBHOOK_SECRET, parsed; undefined or empty to use the generated one. */
    private readonly configured: readonly string[] | undefined,
  ) {}

  /** Where the generated secret lives. */
  get key(): string {
    return `${this.prefix}:${QUEUE_NAMES.webhooks}:secret`;
  }

  async current(): Promise<CurrentWebhookSecrets> {
    if (this.configured && this.configured.length > 0) return { secrets: this.configured, generated: false };
    let stored = await this.redis.get(this.key);
    if (stored === null) {
      await this.redis.set(this.key, generateWebhookSecret(), 'NX');
      stored = await this.redis.get(this.key);
      if (stored === null) throw new Error(`the generated webhook secret vanished from Redis (${this.key})`);
    }
    return { secrets: [stored], generated: true };
  }
}
