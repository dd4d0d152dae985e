import { describe, expect, it } from 'vitest';
import { WebhookAttemptError, parseRetryAfter, scheduledDelayMs, webhookBackoffStrategy } from './retry.ts';

const SPEC_SCHEDULE = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

describe('retry schedule', () => {
  it('takes the delay after n attempts from schedule[n], within ±10%', () => {
    expect(scheduledDelayMs(SPEC_SCHEDULE, 1, () => 0.5)).toBe(5_000);
    expect(scheduledDelayMs(SPEC_SCHEDULE, 2, () => 0)).toBe(270_000);
    expect(scheduledDelayMs(SPEC_SCHEDULE, 2, () => 1)).toBe(330_000);
    for (let i = 0; i < 100; i++) {
      const delay = scheduledDelayMs(SPEC_SCHEDULE, 4);
      expect(delay).toBeGreaterThanOrEqual(6_480_000);
      expect(delay).toBeLessThanOrEqual(7_920_000);
    }
    expect(scheduledDelayMs(SPEC_SCHEDULE, 99, () => 0.5)).toBe(36_000_000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now)).toBe(90_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter('-5', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it('lets Retry-After lengthen the wait up to the cap, never shorten it', () => {
    const strategy = webhookBackoffStrategy({ retryScheduleMs: [0, 1_000, 2_000], retryAfterMaxMs: 10_000, random: () => 0.5 });
    expect(strategy(1, 'webhook-schedule', new Error('plain'))).toBe(1_000);
    expect(strategy(1, 'webhook-schedule', new WebhookAttemptError('503', 5_000))).toBe(5_000);
    expect(strategy(1, 'webhook-schedule', new WebhookAttemptError('503', 100))).toBe(1_000);
    expect(strategy(2, 'webhook-schedule', new WebhookAttemptError('429', 3_600_000))).toBe(10_000);
  });
});
