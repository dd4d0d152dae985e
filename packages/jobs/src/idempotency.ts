/**
 * Idempotency keys (the `Idempotency-Key` request header): the first request
 * with a key creates its resource; a retry with the same key and the same
 * request gets that resource again, for `ttlS`; the same key with a different
 * request is IDEMPOTENCY_CONFLICT.
 *
 * `<prefix>:idempotency:<owner>:<key>` holds {fingerprint, id}. A request
 * claims the key with SET NX before creating anything, and the claim reserves
 * the id the resource will have (`reserved_id`): creation uses it, and
 * creating twice under one id makes one resource (a BullMQ job id). So when
 * a creation's outcome is unknown (Redis went away mid-way: the job may or
 * may not exist) a retry can settle it: the resource exists (the claim is
 * completed with its id and replayed), or it does not and the claim is old
 * enough to be abandoned (the retry takes it over and creates under the same
 * id). Of two concurrent identical requests one creates and the other waits
 * for the id. A creation that failed and left nothing is released, so the
 * client may use the key again.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError } from '@digitq/contracts';

export interface IdempotencyOptions {
  /** How long a key is remembered, from its claim. */
  ttlS: number;
  /**
   * How old a claim without a resource must be for a retry to take it over
   * (its creator crashed, or failed while Redis was unreachable). Longer
   * than a creation normally takes; a takeover while the creator still runs
   * is harmless (same id). Default 30 s.
   */
  abandonAfterMs?: number;
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

export interface IdempotentSteps {
  /** Creates the resource with id `id` and returns it; creating again with the same `id` must not make a second resource. */
  create: (id: string) => Promise<string>;
  /** Whether the resource with id `id` exists, to settle a creation whose outcome is unknown. */
  exists: (id: string) => Promise<boolean>;
}

export interface IdempotentResult {
  id: string;
  /** True when the resource was created by an earlier request with this key. */
  replayed: boolean;
}

interface StoredRecord {
  fingerprint: string;
  /** The resource's id once its creation finished; null while the key is claimed. */
  id: string | null;
  /** Which claim wrote a pending record, so only that request completes or releases it. */
  claim?: string;
  /** The id the claimed creation uses. */
  reserved_id?: string;
  /** When the claim was made, ms since the epoch. */
  claimed_at?: number;
}

const DEFAULT_ABANDON_AFTER_MS = 30_000;
const DEFAULT_WAIT_MS = 10_000;
const DEFAULT_POLL_INTERVAL_MS = 50;

/** SET key to ARGV[2] with EX ARGV[3] only while it still holds ARGV[1] (our claim, or the record a takeover read). */
const REPLACE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return nil`;
/** DEL key only while it still holds our claim ARGV[1]. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

function parseRecord(raw: string): StoredRecord | null {
  try {
    const value = JSON.parse(raw) as Partial<StoredRecord>;
    if (typeof value.fingerprint !== 'string') return null;
    return {
      fingerprint: value.fingerprint,
      id: typeof value.id === 'string' ? value.id : null,
      ...(typeof value.reserved_id === 'string' ? { reserved_id: value.reserved_id } : {}),
      ...(typeof value.claimed_at === 'number' ? { claimed_at: value.claimed_at } : {}),
    };
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class IdempotencyKeys {
  private readonly abandonAfterMs: number;
  private readonly waitMs: number;
  private readonly pollIntervalMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: IdempotencyOptions,
  ) {
    this.abandonAfterMs = options.abandonAfterMs ?? DEFAULT_ABANDON_AFTER_MS;
    this.waitMs = options.waitMs ?? DEFAULT_WAIT_MS;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  }

  redisKey(owner: string, key: string): string {
    return `${this.prefix}:idempotency:${owner}:${key}`;
  }

  private pendingRecord(fingerprint: string, reservedId: string): string {
    return JSON.stringify({ fingerprint, id: null, claim: randomUUID(), reserved_id: reservedId, claimed_at: Date.now() } satisfies StoredRecord);
  }

  /**
   * Creates the resource through `steps.create` unless this key was already
   * used: then returns the earlier id (same fingerprint) or throws
   * IDEMPOTENCY_CONFLICT (different fingerprint, or the first request is
   * still running after `waitMs`).
   */
  async once(scope: IdempotencyScope, steps: IdempotentSteps): Promise<IdempotentResult> {
    const key = this.redisKey(scope.owner, scope.key);
    const deadline = Date.now() + this.waitMs;
    for (let look = 0; ; look++) {
      const claim = this.pendingRecord(scope.fingerprint, randomUUID());
      if ((await this.redis.set(key, claim, 'EX', this.options.ttlS, 'NX')) === 'OK') {
        return { id: await this.createClaimed(key, claim, steps), replayed: false };
      }
      const raw = await this.redis.get(key);
      // Released (the first request failed) or expired between SET and GET: claim again.
      if (raw === null) continue;
      const record = parseRecord(raw);
      if (record === null || record.fingerprint !== scope.fingerprint) {
        throw new AppError(
          'IDEMPOTENCY_CONFLICT',
          `Idempotency-Key ${JSON.stringify(scope.key)} was already used with a different request; use a new key for a new request`,
        );
      }
      if (record.id !== null) return { id: record.id, replayed: true };
      const settled = await this.settlePending(key, raw, record, steps, look === 0);
      if (settled !== null) return settled;
      if (Date.now() >= deadline) {
        throw new AppError('IDEMPOTENCY_CONFLICT', `a request with Idempotency-Key ${JSON.stringify(scope.key)} is still being processed; retry shortly`, {
          retryAfterS: 1,
        });
      }
      await sleep(this.pollIntervalMs);
    }
  }

  /**
   * A claim another request made: if its resource exists, completes the
   * record and replays it; if not and the claim is abandoned, takes it over
   * and creates under the same id. Null: the claim is still in progress.
   * Existence is checked at the first look (a retry after a failed creation)
   * and once the claim is old, not on every poll of a concurrent request.
   */
  private async settlePending(key: string, raw: string, record: StoredRecord, steps: IdempotentSteps, firstLook: boolean): Promise<IdempotentResult | null> {
    const reservedId = record.reserved_id;
    if (reservedId === undefined) return null;
    const abandoned = Date.now() - (record.claimed_at ?? 0) >= this.abandonAfterMs;
    if (!firstLook && !abandoned) return null;
    if (await steps.exists(reservedId)) {
      await this.replace(key, raw, reservedId, record.fingerprint);
      return { id: reservedId, replayed: true };
    }
    if (!abandoned) return null;
    const takeover = this.pendingRecord(record.fingerprint, reservedId);
    if ((await this.redis.eval(REPLACE_SCRIPT, 1, key, raw, takeover, this.options.ttlS)) !== 'OK') return null;
    return { id: await this.createClaimed(key, takeover, steps), replayed: false };
  }

  private async createClaimed(key: string, claim: string, steps: IdempotentSteps): Promise<string> {
    const { fingerprint, reserved_id: reservedId } = JSON.parse(claim) as Required<StoredRecord>;
    let id: string;
    try {
      id = await steps.create(reservedId);
    } catch (error) {
      // The creation's error is the answer. Whether it left a resource is settled now if Redis answers, else by a retry.
      await this.settleFailed(key, claim, reservedId, fingerprint, steps).catch(() => undefined);
      throw error;
    }
    // If a retry took our claim over meanwhile, it completes the record; this request still created `id`.
    await this.replace(key, claim, id, fingerprint);
    return id;
  }

  /** After a failed creation: keep the resource if one was made anyway (a lost reply), else free the key. */
  private async settleFailed(key: string, claim: string, reservedId: string, fingerprint: string, steps: IdempotentSteps): Promise<void> {
    if (await steps.exists(reservedId)) await this.replace(key, claim, reservedId, fingerprint);
    else await this.redis.eval(RELEASE_SCRIPT, 1, key, claim);
  }

  /** Completes the record `expected` (a pending claim) with `id`, unless it changed meanwhile. */
  private async replace(key: string, expected: string, id: string, fingerprint: string): Promise<void> {
    const done = JSON.stringify({ fingerprint, id } satisfies StoredRecord);
    await this.redis.eval(REPLACE_SCRIPT, 1, key, expected, done, this.options.ttlS);
  }
}
