/**
 * Who is asking. Every request gets an owner id before any route runs, and
 * jobs are only visible to their owner. Until API keys exist everyone is
 * ANONYMOUS_OWNER; the key middleware will set it from `Authorization: Bearer`.
 */
import type { RequestHandler, Response } from 'express';

export const ANONYMOUS_OWNER = 'anonymous';

declare global {
  namespace Express {
    interface Locals {
      owner?: string;
    }
  }
}

export function anonymousOwner(): RequestHandler {
  return (_req, res, next) => {
    res.locals.owner = ANONYMOUS_OWNER;
    next();
  };
}

/** The owner set by the owner middleware; a route mounted before it is a bug. */
export function ownerOf(res: Response): string {
  const owner = res.locals.owner;
  if (owner === undefined) throw new Error('no owner on the request: the owner middleware must run before the routes');
  return owner;
}
