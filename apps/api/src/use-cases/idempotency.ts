/**
 * Creating at most once per Idempotency-Key: the first request creates, a
 * retry with the same key and the same request gets the same resource back
 * (replayed), the same key with another request is IDEMPOTENCY_CONFLICT.
 * Keys are per owner and kept IDEMPOTENCY_TTL_S (IdempotencyKeys in
 * @digitq/jobs holds the records).
 *
 * What makes two requests "the same" comes in with the key (`fingerprint`):
 * the HTTP layer hashes the request as it was sent (http/idempotency.ts).
 */
import type { AppError } from '@digitq/contracts';
import type { IdempotencyKeys } from '@digitq/jobs';

export interface IdempotencyInput {
  /** The client's key (already checked for form). */
  key: string;
  /** What the key promises to stand for: the same fingerprint is the same request. */
  fingerprint: string;
}

export interface CreationSteps<T extends { id: string }> {
  /** Creates under `id` when given (the key's reserved id); creating under one id twice must make one resource. */
  create: (id?: string) => Promise<T>;
  load: (id: string) => Promise<T | null>;
  /** The error for a replayed resource that no longer exists (expired). */
  gone: (id: string) => AppError;
}

export interface Creation<T> {
  /** The resource, freshly created or (on a replay) as it is now. */
  resource: T;
  replayed: boolean;
}

/**
 * Creates through `steps.create` at most once per key (no key: just
 * creates). With a key, `create` gets the id the key reserved, which lets a
 * retry settle a creation whose outcome Redis left unknown (see
 * IdempotencyKeys). A failed creation releases the key.
 */
export async function createOnce<T extends { id: string }>(
  keys: IdempotencyKeys,
  owner: string,
  idempotency: IdempotencyInput | null,
  steps: CreationSteps<T>,
): Promise<Creation<T>> {
  if (idempotency === null) return { resource: await steps.create(), replayed: false };
  const fresh: { resource?: T } = {};
  const result = await keys.once(
    { owner, key: idempotency.key, fingerprint: idempotency.fingerprint },
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
  return { resource, replayed: true };
}
