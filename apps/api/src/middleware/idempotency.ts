/**
 * `Idempotency-Key` on POSTs that create something (POST /v1/jobs; the same
 * helper serves any other creating route): the first request creates, a
 * retry with the same key and the same request gets the same resource back
 * (with `Idempotent-Replayed: true`), the same key with another request is
 * 409 IDEMPOTENCY_CONFLICT. Keys are per owner and kept IDEMPOTENCY_TTL_S.
 *
 * "The same request" is a SHA-256 over the method, path, the parsed form
 * fields or JSON body (keys sorted) and every uploaded file's field, name and
 * bytes, so it is computed after the body parser (multer) ran, and after the
 * request was validated (routes call createIdempotently once it was).
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { AppError } from '@digitq/contracts';
import type { IdempotencyKeys } from '@digitq/jobs';
import { MAX_JSON_DEPTH } from './body.ts';
import { ownerOf } from './owner.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
/** Printable ASCII, no spaces, like a UUID or a ULID with room to spare. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The request's Idempotency-Key, or null; a malformed one is VALIDATION_FAILED. */
export function idempotencyKeyOf(req: Request): string | null {
  const value = req.headers['idempotency-key'];
  if (value === undefined) return null;
  if (typeof value !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw new AppError('VALIDATION_FAILED', `${IDEMPOTENCY_KEY_HEADER} must be 1 to 255 printable ASCII characters without spaces (a UUID is a good choice)`);
  }
  return value;
}

/**
 * JSON with object keys sorted at every level, so equal values hash equally
 * whatever their key order. Its recursion is bounded: a value nested deeper
 * than MAX_JSON_DEPTH (which the body parsers already refuse) is
 * VALIDATION_FAILED, never a stack overflow.
 */
export function canonicalJson(value: unknown, depth = 0): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (depth >= MAX_JSON_DEPTH) throw new AppError('VALIDATION_FAILED', `the request nests deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key], depth + 1)}`);
  return `{${entries.join(',')}}`;
}

/** What makes a request the same request: method, path, fields or JSON body, and the files' bytes. */
export function requestFingerprint(req: Request, files: readonly Express.Multer.File[]): string {
  const hash = createHash('sha256');
  hash.update(`${req.method} ${req.path}\n${req.is('multipart/form-data') ? 'multipart' : 'json'}\n${canonicalJson(req.body ?? null)}\n`);
  for (const file of files) {
    hash.update(`${file.fieldname}\0${file.originalname}\0${file.buffer.length}\0`);
    hash.update(file.buffer);
  }
  return hash.digest('hex');
}

export interface IdempotentCreation<T extends { id: string }> {
  /** The resource, freshly created or (on a replay) as it is now. */
  resource: T;
  replayed: boolean;
}

/**
 * Creates through `create` at most once per Idempotency-Key (no key: just
 * creates). With a key, `create` gets the id the key reserved: creating
 * under it twice must make one resource, which lets a retry settle a
 * creation whose outcome Redis left unknown (see IdempotencyKeys). On a
 * replay, `load` fetches the earlier resource; if it is gone (expired) the
 * answer is 404 via `gone`.
 */
export async function createIdempotently<T extends { id: string }>(
  keys: IdempotencyKeys,
  req: Request,
  res: Response,
  files: readonly Express.Multer.File[],
  steps: { create: (id?: string) => Promise<T>; load: (id: string) => Promise<T | null>; gone: (id: string) => AppError },
): Promise<IdempotentCreation<T>> {
  const key = idempotencyKeyOf(req);
  if (key === null) return { resource: await steps.create(), replayed: false };
  const fresh: { resource?: T } = {};
  const result = await keys.once(
    { owner: ownerOf(res), key, fingerprint: requestFingerprint(req, files) },
    {
      create: async (id) => {
        fresh.resource = await steps.create(id);
        return fresh.resource.id;
      },
      exists: async (id) => (await steps.load(id)) !== null,
    },
  );
  if (!result.replayed && fresh.resource) return { resource: fresh.resource, replayed: false };
  const resource = await steps.load(result.id);
  if (resource === null) throw steps.gone(result.id);
  res.setHeader(IDEMPOTENT_REPLAYED_HEADER, 'true');
  return { resource, replayed: true };
}
