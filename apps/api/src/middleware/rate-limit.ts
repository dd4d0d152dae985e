/**
 * Per-owner rate limit (RATE_LIMIT_PER_S requests per second per API key),
 * counted in Redis so every API instance shares one budget per key:
 * express-rate-limit with rate-limit-redis, a fixed one-second window. Over
 * the limit: 429 RATE_LIMITED with Retry-After and the IETF RateLimit /
 * RateLimit-Policy headers (draft 8), which every answer carries.
 */
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { AppError } from '@digitq/contracts';
import type { Logger } from '@digitq/service';
import { ownerOf } from './owner.ts';

const WINDOW_MS = 1000;

export interface RateLimitOptions {
  redis: Redis;
  prefix: string;
  perSecond: number;
  logger: Logger;
}

export function perOwnerRateLimit(options: RateLimitOptions): RequestHandler {
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: options.perSecond,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (_req, res) => ownerOf(res),
    store: new RedisStore({
      prefix: `${options.prefix}:ratelimit:`,
      sendCommand: (command: string, ...args: string[]) => options.redis.call(command, ...args) as Promise<RedisReply>,
    }),
    // Redis trouble must not turn every request into a 500: let it through (and log); the route will meet Redis anyway.
    passOnStoreError: true,
    logger: options.logger,
    handler: (_req, res, next) => {
      next(new AppError('RATE_LIMITED', `more than ${options.perSecond} requests per second for this API key; retry after ${String(res.getHeader('Retry-After'))} s`));
    },
  });
}
