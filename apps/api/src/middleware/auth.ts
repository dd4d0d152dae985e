/**
 * API keys: who is asking. With API_KEYS set, every request that reaches
 * this middleware needs `Authorization: Bearer <key>`, and the key's id
 * becomes the request's owner (a key sees only its own jobs). Without keys
 * everyone is ANONYMOUS_OWNER (the API then binds to loopback only, see
 * start-check.ts).
 *
 * Keys are compared in constant time: the presented token's SHA-256 against
 * each configured key's, with timingSafeEqual, always over every key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKeyEntry } from '@digitq/config';
import { AppError } from '@digitq/contracts';
import { ANONYMOUS_OWNER } from './owner.ts';

export const API_REALM = 'digitq';
/** Hex digits of the key's hash that name an unnamed key. */
const KEY_ID_HASH_CHARS = 12;

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Owner id of a key: its name, or `key-` and the start of its hash (stable, and reveals nothing usable). */
export function apiKeyId(entry: ApiKeyEntry): string {
  return entry.name ?? `key-${sha256(entry.key).toString('hex').slice(0, KEY_ID_HASH_CHARS)}`;
}

/** The token of `Authorization: Bearer <token>`, or null when the header is absent or of another scheme. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

/** Constant-time equality of two secrets, by their hashes (equal lengths whatever the inputs). */
export function secretsEqual(presented: string, expected: string | Buffer): boolean {
  return timingSafeEqual(sha256(presented), typeof expected === 'string' ? sha256(expected) : expected);
}

export class ApiKeyring {
  private readonly keys: { id: string; digest: Buffer }[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.keys = entries.map((entry) => ({ id: apiKeyId(entry), digest: sha256(entry.key) }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The id of the key `token` is, or null. Looks at every key whether or not one matched. */
  identify(token: string): string | null {
    let found: string | null = null;
    for (const key of this.keys) {
      if (secretsEqual(token, key.digest)) found = key.id;
    }
    return found;
  }
}

/** Sets `res.locals.owner` from the bearer key, or answers 401 UNAUTHORIZED with a Bearer challenge (RFC 6750). */
export function authenticate(keyring: ApiKeyring): RequestHandler {
  return (req, res, next) => {
    if (!keyring.enabled) {
      res.locals.owner = ANONYMOUS_OWNER;
      return next();
    }
    const token = bearerToken(req.headers.authorization);
    if (token === null) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${API_REALM}"`);
      return next(new AppError('UNAUTHORIZED', 'this API needs an API key: send Authorization: Bearer <key>'));
    }
    const owner = keyring.identify(token);
    if (owner === null) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${API_REALM}", error="invalid_token"`);
      return next(new AppError('UNAUTHORIZED', 'the API key is not valid'));
    }
    res.locals.owner = owner;
    next();
  };
}
