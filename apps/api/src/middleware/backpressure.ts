/**
 * Backpressure: while the inference queue already holds MAX_QUEUED_JOBS
 * jobs waiting for a worker, submits are refused with 429 QUEUE_FULL and a
 * Retry-After, before their body is read. The count is cached for
 * QUEUE_COUNT_CACHE_MS (one Redis round trip per instance per window, however
 * many requests arrive), so the limit may be overshot by what arrives
 * within one window.
 */
import type { RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';
import { cachedValue } from '../cached-value.ts';

export const QUEUE_COUNT_CACHE_MS = 250;
/** What a refused client is told to wait: long enough for workers to take a bite out of the queue. */
export const QUEUE_FULL_RETRY_AFTER_S = 5;

export interface BackpressureOptions {
  /** Jobs waiting for a worker (waiting + prioritized + delayed). */
  countQueued: () => Promise<number>;
  maxQueued: number;
  cacheMs?: number;
}

export function queueBackpressure(options: BackpressureOptions): RequestHandler {
  const queued = cachedValue(options.countQueued, options.cacheMs ?? QUEUE_COUNT_CACHE_MS);
  return (_req, _res, next) => {
    queued().then((count) => {
      if (count < options.maxQueued) return next();
      next(
        new AppError('QUEUE_FULL', `the queue is full (${count} jobs waiting, limit ${options.maxQueued}); retry in ${QUEUE_FULL_RETRY_AFTER_S} s`, {
          retryAfterS: QUEUE_FULL_RETRY_AFTER_S,
        }),
      );
    }, next);
  };
}
