/**
 * Idempotency keys (the `Idempotency-Key` request header): the first request
 * with a key creates its resource; a retry with the same key and the same
 * request gets that resource again, for `ttlS`; the same key with a different
 * request is IDEMPOTENCY_CONFLICT.
 *
 * `<prefix>:idempotency:<owner>:<key>` holds {fingerprint, id}. A request
 * claims the key with SET NX before creating anything (id still null), so of
 * two concurrent identical requests one creates and the other waits for the
 * id. A creation that fails releases the claim, so the client may retry.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '@digitq/contracts';

export interface IdempotencyOptions {
  /** How long a key is remembered once its resource exists. */
  ttlS: number;
  /** How long a claim lasts without a resource: longer than any creation takes; a crashed creator's claim lapses after it. Default 60 s. */
  pendingTtlMs?: number;
  /** How long a concurrent request waits for the creator's id before answering 409. Default 10 s. */
  waitMs?: number;
  /** How often a waiting request looks for the id. Default 50 ms. */
  pollIntervalMs?: number;
}

export interface IdempotencyScope {
  /** Keys are per owner: two API keys may use the same Idempotency-Key. */
  owner: string;
  key: string;
  /** Hash of everything that makes the request what it is (method, path, fields, file bytes). */
  fingerprint: string;
}

export interface IdempotentResult {
  id: string;
  /** True when the resource was created by an earlier request with this key. */
  replayed: boolean;
}

interface StoredRecord {
  fingerprint: string;
  id: string | null;
  /** Which claim wrote a pending record, so only that request completes or releases it. */
  claim?: string;
}

const DEFAULT_PENDING_TTL_MS = 60_000;
const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 50;

/** SET key to ARGV[2] with EX ARGV[3] only while it still holds our claim ARGV[1]. */
const COMPLETE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return nil`;
/** DEL key only while it still holds our claim ARGV[1]. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function parseRecord(raw: string): StoredRecord | null {
  try {
    const value = JSON.parse(raw) as Partial<StoredRecord>;
    return typeof value.fingerprint === 'string' ? { fingerprint: value.fingerprint, id: typeof value.id === 'string' ? value.id : null } : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class IdempotencyKeys {
  private readonly pendingTtlMs: number;
  private readonly waitMs: number;
  private readonly pollIntervalMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: IdempotencyOptions,
  ) {
    this.pendingTtlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
    this.waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  redisKey(owner: string, key: string): string {
    return `${this.prefix}:idempotency:${owner}:${key}`;
  }

  /**
   * Runs `create` (which returns the new resource's id) unless this key was
   * already used: then returns the earlier id (same fingerprint) or throws
   * IDEMPOTENCY_CONFLICT (different fingerprint, or the first request is
   * still running after `waitMs`).
   */
  async once(scope: IdempotencyScope, create: () => Promise<string>): Promise<IdempotentResult> {
    const key = this.redisKey(scope.owner, scope.key);
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const pending = JSON.stringify({ fingerprint: scope.fingerprint, id: null, claim: randomUUID() } satisfies StoredRecord);
      if ((await this.redis.set(key, pending, 'PX', this.pendingTtlMs, 'NX')) === 'OK') {
        return { id: await this.createClaimed(key, pending, scope.fingerprint, create), replayed: false };
      }
      const raw = await this.redis.get(key);
      // Released (the first request failed) or lapsed between SET and GET: claim again.
      if (raw === null) continue;
      const record = parseRecord(raw);
      if (record === null || record.fingerprint !== scope.fingerprint) {
        throw new AppError(
          'IDEMPOTENCY_CONFLICT',
          `Idempotency-Key ${JSON.stringify(scope.key)} was already used with a different request; use a new key for a new request`,
        );
      }
      if (record.id !== null) return { id: record.id, replayed: true };
      if (Date.now() >= deadline) {
        throw new AppError('IDEMPOTENCY_CONFLICT', `a request with Idempotency-Key ${JSON.stringify(scope.key)} is still being processed; retry shortly`, {
          headers: { 'Retry-After': '1' },
        });
      }
      await sleep(this.pollIntervalMs);
    }
  }

  private async createClaimed(key: string, pending: string, fingerprint: string, create: () => Promise<string>): Promise<string> {
    let id: string;
    try {
      id = await create();
    } catch (error) {
      // The creation's error is the answer; should the release fail too, the claim lapses after pendingTtlMs.
      await this.redis.eval(RELEASE_SCRIPT, 1, key, pending).catch(() => undefined);
      throw error;
    }
    const done = JSON.stringify({ fingerprint, id } satisfies StoredRecord);
    // If our claim lapsed and another request took the key meanwhile, it keeps it; this request still created `id`.
    await this.redis.eval(COMPLETE_SCRIPT, 1, key, pending, done, this.options.ttlS);
    return id;
  }
}
