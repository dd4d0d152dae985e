/**
 * `Idempotency-Key` as HTTP carries it: the header's value, checked for
 * form, and the request's fingerprint, which the submit use cases store with
 * the key (use-cases/idempotency.ts): the same key with the same fingerprint
 * is a retry, with another it is IDEMPOTENCY_CONFLICT.
 *
 * "The same request" is the request as it was sent: a SHA-256 over the
 * method, path, the parsed form fields or JSON body (keys sorted) and every
 * uploaded file's field, name and bytes. It is taken here, from what arrived,
 * rather than from the validated input, so that a fingerprint means what the
 * client sent (the IETF draft's "request payload"), and the records already
 * in Redis keep matching their retries. It is computed after the request was
 * validated (the intake runs first), so nothing recurses through a body the
 * intake would refuse.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '@digitq/contracts';
import type { UploadedFile } from '../intake/requests.ts';
import { MAX_JSON_DEPTH } from '../middleware/body.ts';
import type { IdempotencyInput } from '../use-cases/idempotency.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
/** Printable ASCII, no spaces, like a UUID or a ULID with room to spare. */
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The parts of a request its fingerprint covers. */
export interface FingerprintSource {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  bodyType: 'multipart' | 'json' | null;
  /** The parsed JSON body, or a form's text fields. */
  body: unknown;
  files: readonly UploadedFile[];
}

/** The request's Idempotency-Key, or null; a malformed one is VALIDATION_FAILED. */
export function idempotencyKeyOf(headers: IncomingHttpHeaders): string | null {
  const value = headers['idempotency-key'];
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
export function requestFingerprint(request: FingerprintSource): string {
  const hash = createHash('sha256');
  hash.update(`${request.method} ${request.path}\n${request.bodyType === 'multipart' ? 'multipart' : 'json'}\n${canonicalJson(request.body ?? null)}\n`);
  for (const file of request.files) {
    hash.update(`${file.field}\0${file.name}\0${file.bytes.length}\0`);
    hash.update(file.bytes);
  }
  return hash.digest('hex');
}

/** The key and fingerprint a submit use case takes, or null when the request has no key. */
export function idempotencyOf(request: FingerprintSource): IdempotencyInput | null {
  const key = idempotencyKeyOf(request.headers);
  return key === null ? null : { key, fingerprint: requestFingerprint(request) };
}
