/**
 * Who is asking. Every request that reaches a /v1 or /predict route has an
 * owner id, set by the auth middleware (auth.ts) from its API key, or
 * ANONYMOUS_OWNER when no keys are configured; jobs are only visible to
 * their owner.
 */
import type { Response } from 'express';

export const ANONYMOUS_OWNER = 'anonymous';

declare global {
  namespace Express {
    interface Locals {
      owner?: string;
    }
  }
}

/** The owner set by the auth middleware; a route mounted before it is a bug. */
export function ownerOf(res: Response): string {
  const owner = res.locals.owner;
  if (owner === undefined) throw new Error('no owner on the request: the auth middleware must run before the routes');
  return owner;
}
