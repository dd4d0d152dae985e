/**
 * Per-owner rate limit (RATE_LIMIT_PER_S requests per second per API key),
 * counted in Redis so every API instance shares one budget per key:
 * express-rate-limit with rate-limit-redis, a fixed one-second window. Over
 * the limit: 429 RATE_LIMITED with Retry-After and the IETF RateLimit /
 * RateLimit-Policy headers (draft 8), which every answer carries.
 */
import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { AppError } from '@digitq/contracts';
import { isRedisUnavailableError, type Logger } from '@digitq/service';
import { ownerOf } from './owner.ts';

const WINDOW_MS = 1000;

export interface RateLimitOptions {
  redis: Redis;
  prefix: string;
  perSecond: number;
  logger: Logger;
}

/**
 * Sends the store's commands. SCRIPT LOAD answers the script's SHA1, which needs no Redis: while Redis is
 * unreachable (the API's connection refuses commands then, e.g. at start, when the store loads its scripts)
 * it is answered here, or the store would keep the failed load for good; its EVALSHA loads the script again
 * on NOSCRIPT once Redis is back.
 */
function storeCommands(redis: Redis) {
  return async (command: string, ...args: string[]): Promise<RedisReply> => {
    try {
      return (await redis.call(command, ...args)) as RedisReply;
    } catch (error) {
      const [subcommand, script] = args;
      if (command.toUpperCase() === 'SCRIPT' && subcommand?.toUpperCase() === 'LOAD' && script !== undefined && isRedisUnavailableError(error)) {
        return createHash('sha1').update(script).digest('hex');
      }
      throw error;
    }
  };
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
      sendCommand: storeCommands(options.redis),
    }),
    // Redis unreachable: the error handler answers 503 with Retry-After (every route after this one needs Redis anyway).
    passOnStoreError: false,
    logger: options.logger,
    handler: (_req, res, next) => {
      next(new AppError('RATE_LIMITED', `more than ${options.perSecond} requests per second for this API key; retry after ${String(res.getHeader('Retry-After'))} s`));
    },
  });
}
