/**
 * Corrections (feedback): each one the image a job's model saw (784 bytes)
 * with the digit its owner says it really is. Kept in Redis, bounded per
 * owner, with a copy on disk; read back as pages (the API), one by one (the
 * exports) or as a DigitDataset (training and evaluation).
 *
 * Redis, every key under the queue prefix (so with a hash-tagged prefix,
 * `{digitq}`, they share one Redis Cluster slot like the queues' keys):
 *
 * - `<prefix>:feedback:entry:<id>`: the entry's fields and its pixels (JSON);
 * - `<prefix>:feedback:owner:<owner>`: the owner's entries, oldest first
 *   (a sorted set of `<created ms, 15 digits>:<id>`, all scores 0, ordered by
 *   the member's bytes: time, then id), from which the oldest are dropped
 *   beyond `maxPerOwner`;
 * - `<prefix>:feedback:all`: every owner's entries, the same members.
 *
 * An entry's id is derived from (job, image index), so correcting the same
 * image again replaces its label instead of adding a second entry; whether
 * it is held back from training is derived from the id (FEEDBACK_HELDBACK_PERCENT).
 *
 * The disk copy, `<dir>/<id>.png` (the image, MNIST convention) and
 * `<dir>/<id>.json` (the entry's fields, one JSON line), each written to a
 * temporary file and renamed, is what survives losing Redis's data (a Redis
 * without persistence restarted, a flushed database): restoreFromDisk() puts
 * it back, and the API calls it at start when Redis holds no feedback at
 * all. Redis stays the source of truth while it has any entry: the disk copy
 * is written after Redis on add and removed after it on delete, so a crash
 * between the two leaves at most one entry's files behind (restored only if
 * Redis is ever emptied) or an entry without files (not restorable).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { DigitDataset } from '@digitq/datasets';
import {
  DIGIT_SIDE,
  ENCODED_IMAGE_LENGTH,
  FEEDBACK_HELDBACK_PERCENT,
  PIXELS_PER_IMAGE,
  decodePixels,
  encodePixels,
  feedbackEntrySchema,
  type FeedbackEntry,
  type FeedbackList,
} from '@digitq/contracts';
import { decodeDigitPng, encodeDigitPng } from './digit-png.ts';

export interface FeedbackStoreOptions {
  /** FEEDBACK_MAX_PER_OWNER: most entries kept per owner; adding beyond it drops that owner's oldest. */
  maxPerOwner: number;
  /** FEEDBACK_DIR: where the disk copy lives (created on first write). */
  dir: string;
}

/** A correction to store: the image and what is known about it. */
export interface NewFeedback {
  owner: string;
  job_id: string;
  index: number;
  label: number;
  predicted: number | null;
  model: { name: string; version: string };
  /** The job's preprocessed image, 784 bytes. */
  pixels: Uint8Array;
}

/** An entry with its image. */
export interface StoredFeedback extends FeedbackEntry {
  pixels: Uint8Array;
}

export interface ListFeedbackOptions {
  /** Only this owner's entries; undefined: everyone's. */
  owner?: string;
  /** Only held-back (true) or only trainable (false) entries; undefined: both. */
  heldback?: boolean;
  /** next_cursor of the previous page. */
  cursor?: string;
  limit: number;
}

/** What restoreFromDisk did. */
export interface FeedbackRestore {
  restored: number;
  /** Entries already in Redis (or dropped at once by the per-owner bound). */
  present: number;
  /** Files that could not be read back, with why. */
  skipped: { file: string; reason: string }[];
}

/** Entries read per Redis round trip when walking an index. */
const SCAN_CHUNK = 500;
/** Most index entries one list request looks at when filtering. */
const LIST_SCAN_LIMIT = 5000;
/** Entries restored per pipeline. */
const RESTORE_CHUNK = 200;
const ID_HEX_LENGTH = 32;
const CREATED_MS_DIGITS = 15;
const PERCENT = 100;

/** The entry's id: the same job and image always give the same id. */
export function feedbackId(jobId: string, index: number): string {
  return createHash('sha256').update(`${jobId}\n${index}`).digest('hex').slice(0, ID_HEX_LENGTH);
}

/** Whether an entry is held back from training, decided once from its id (FEEDBACK_HELDBACK_PERCENT of ids). */
export function isHeldBack(id: string): boolean {
  return createHash('sha256').update(`heldback\n${id}`).digest().readUInt32BE(0) % PERCENT < FEEDBACK_HELDBACK_PERCENT;
}

function indexMember(createdAt: string, id: string): string {
  return `${String(Date.parse(createdAt)).padStart(CREATED_MS_DIGITS, '0')}:${id}`;
}

function idOfMember(member: string): string {
  return member.slice(member.indexOf(':') + 1);
}

/** An entry as Redis holds it (its fields and base64 pixels); null when absent or not an entry. */
function parseStored(raw: string | null): StoredFeedback | null {
  if (raw === null) return null;
  let stored: { pixels?: unknown };
  try {
    stored = JSON.parse(raw) as { pixels?: unknown };
  } catch {
    return null;
  }
  const { pixels, ...fields } = stored;
  const parsed = feedbackEntrySchema.safeParse(fields);
  if (!parsed.success || typeof pixels !== 'string' || pixels.length !== ENCODED_IMAGE_LENGTH) return null;
  return { ...parsed.data, pixels: decodePixels(pixels) };
}

function withoutPixels(stored: StoredFeedback): FeedbackEntry {
  const { pixels: _pixels, ...entry } = stored;
  return entry;
}

function serialise(entry: StoredFeedback): string {
  return JSON.stringify({ ...withoutPixels(entry), pixels: encodePixels(entry.pixels) });
}

/**
 * Adds an entry unless its id is present (then returns {0}); drops the
 * owner's oldest entries beyond ARGV[3] and returns {1, dropped ids...}.
 * KEYS: the entry, the owner's index, the global index. ARGV: the entry's
 * JSON, its index member, the bound, the entry key prefix. Dropped entries'
 * keys are built here from that prefix, as BullMQ's scripts do: with a
 * hash-tagged prefix they are in the same slot as KEYS.
 */
const ADD_SCRIPT = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return {0} end
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
local result = {1}
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    local id = string.sub(member, string.find(member, ':', 1, true) + 1)
    redis.call('ZREM', KEYS[2], member)
    redis.call('ZREM', KEYS[3], member)
    redis.call('DEL', ARGV[4] .. id)
    table.insert(result, id)
  end
end
return result`;

export class FeedbackStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: FeedbackStoreOptions,
  ) {}

  private get entryPrefix(): string {
    return `${this.prefix}:feedback:entry:`;
  }

  private entryKey(id: string): string {
    return `${this.entryPrefix}${id}`;
  }

  private ownerKey(owner: string): string {
    return `${this.prefix}:feedback:owner:${owner}`;
  }

  private get allKey(): string {
    return `${this.prefix}:feedback:all`;
  }

  private file(id: string, extension: 'png' | 'json'): string {
    return join(this.options.dir, `${id}.${extension}`);
  }

  /**
   * Stores a correction: a new entry (`replaced: false`), or, when this
   * job's image was corrected before, the same entry with the new label
   * (`replaced: true`; it keeps its id, creation time and held-back side).
   */
  async add(input: NewFeedback): Promise<{ entry: FeedbackEntry; replaced: boolean }> {
    if (input.pixels.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${input.pixels.length}`);
    const id = feedbackId(input.job_id, input.index);
    const fresh: StoredFeedback = {
      id,
      owner: input.owner,
      job_id: input.job_id,
      index: input.index,
      label: input.label,
      predicted: input.predicted,
      model: { name: input.model.name, version: input.model.version },
      created_at: new Date().toISOString(),
      heldback: isHeldBack(id),
      pixels: input.pixels,
    };
    // Twice at most: a replace finds the entry gone only when it was deleted in between; it is then added anew.
    for (let attempt = 0; attempt < 2; attempt++) {
      const [created, ...dropped] = await this.runAdd(fresh);
      if (created === 1) {
        await this.removeFiles(dropped);
        // The new entry is itself dropped only when the owner's kept ones are newer than now (the clock stepped back).
        if (!dropped.includes(id)) {
          try {
            await this.writeFiles(fresh);
          } catch (error) {
            // No entry without its disk copy: the caller is told it failed, so nothing is kept.
            await this.removeEntry(fresh).catch(() => undefined);
            throw error;
          }
        }
        return { entry: withoutPixels(fresh), replaced: false };
      }
      const replaced = await this.relabel(id, input.label);
      if (replaced) return { entry: withoutPixels(replaced), replaced: true };
    }
    throw new Error(`feedback ${id} was added and deleted concurrently; retry`);
  }

  private async runAdd(entry: StoredFeedback): Promise<[number, ...string[]]> {
    return (await this.redis.eval(
      ADD_SCRIPT,
      3,
      this.entryKey(entry.id),
      this.ownerKey(entry.owner),
      this.allKey,
      serialise(entry),
      indexMember(entry.created_at, entry.id),
      this.options.maxPerOwner,
      this.entryPrefix,
    )) as [number, ...string[]];
  }

  /** The entry with its label changed, or null when it no longer exists. */
  private async relabel(id: string, label: number): Promise<StoredFeedback | null> {
    const current = await this.get(id);
    if (!current) return null;
    const updated = { ...current, label };
    if ((await this.redis.set(this.entryKey(id), serialise(updated), 'XX')) !== 'OK') return null;
    await this.writeFiles(updated);
    return updated;
  }

  /** An entry with its image, or null. */
  async get(id: string): Promise<StoredFeedback | null> {
    return parseStored(await this.redis.get(this.entryKey(id)));
  }

  private async getMany(ids: readonly string[]): Promise<(StoredFeedback | null)[]> {
    if (ids.length === 0) return [];
    return (await this.redis.mget(ids.map((id) => this.entryKey(id)))).map(parseStored);
  }

  /** A page of entries (an owner's or everyone's), newest first. */
  async list(options: ListFeedbackOptions): Promise<FeedbackList> {
    const index = options.owner === undefined ? this.allKey : this.ownerKey(options.owner);
    const data: FeedbackEntry[] = [];
    let max = options.cursor === undefined ? '+' : `(${options.cursor}`;
    let last: string | null = null;
    let scanned = 0;
    while (data.length < options.limit && scanned < LIST_SCAN_LIMIT) {
      const members = await this.redis.zrevrangebylex(index, max, '-', 'LIMIT', 0, Math.min(SCAN_CHUNK, options.limit - data.length + 1));
      if (members.length === 0) return { data, next_cursor: null };
      const entries = await this.getMany(members.map(idOfMember));
      for (const [i, member] of members.entries()) {
        scanned++;
        max = `(${member}`;
        const entry = entries[i];
        if (!entry) continue;
        if (options.heldback !== undefined && entry.heldback !== options.heldback) continue;
        if (data.length === options.limit) break;
        data.push(withoutPixels(entry));
        last = member;
      }
    }
    if (last === null) return { data, next_cursor: null };
    const more = (await this.redis.zrevrangebylex(index, `(${last}`, '-', 'LIMIT', 0, 1)).length > 0;
    return { data, next_cursor: more ? last : null };
  }

  /** Every entry (an owner's or everyone's, held back or not), oldest first, with its image. */
  async *entries(filter: { owner?: string; heldback?: boolean } = {}): AsyncGenerator<StoredFeedback> {
    const index = filter.owner === undefined ? this.allKey : this.ownerKey(filter.owner);
    let min = '-';
    for (;;) {
      const members = await this.redis.zrangebylex(index, min, '+', 'LIMIT', 0, SCAN_CHUNK);
      if (members.length === 0) return;
      const entries = await this.getMany(members.map(idOfMember));
      for (const entry of entries) {
        if (entry && (filter.heldback === undefined || entry.heldback === filter.heldback)) yield entry;
      }
      min = `(${members[members.length - 1]!}`;
    }
  }

  /**
   * Every owner's entries on one side of the split as a digit set, oldest
   * first: `heldback: false` to train on, `heldback: true` to judge on.
   */
  async dataset(filter: { heldback: boolean; owner?: string }): Promise<DigitDataset> {
    const images: Uint8Array[] = [];
    const labels: number[] = [];
    for await (const entry of this.entries(filter)) {
      images.push(entry.pixels);
      labels.push(entry.label);
    }
    const pixels = new Uint8Array(images.length * PIXELS_PER_IMAGE);
    images.forEach((image, i) => pixels.set(image, i * PIXELS_PER_IMAGE));
    return {
      name: filter.heldback ? 'feedback-heldback' : 'feedback',
      count: images.length,
      rows: DIGIT_SIDE,
      cols: DIGIT_SIDE,
      images: pixels,
      labels: Uint8Array.from(labels),
    };
  }

  /** How many entries there are (everyone's, or an owner's). */
  async count(owner?: string): Promise<number> {
    return this.redis.zcard(owner === undefined ? this.allKey : this.ownerKey(owner));
  }

  /** Deletes the owner's entry `id`; false when there is none (or it is someone else's). */
  async delete(owner: string, id: string): Promise<boolean> {
    const entry = await this.get(id);
    if (!entry || entry.owner !== owner) return false;
    await this.removeEntry(entry);
    await this.removeFiles([id]);
    return true;
  }

  /** Deletes every entry of the owner; returns how many. */
  async deleteAll(owner: string): Promise<number> {
    const index = this.ownerKey(owner);
    let deleted = 0;
    for (;;) {
      const members = await this.redis.zrange(index, 0, SCAN_CHUNK - 1);
      if (members.length === 0) return deleted;
      const ids = members.map(idOfMember);
      await this.redis
        .multi()
        .del(...ids.map((id) => this.entryKey(id)))
        .zrem(index, ...members)
        .zrem(this.allKey, ...members)
        .exec();
      await this.removeFiles(ids);
      deleted += members.length;
    }
  }

  private async removeEntry(entry: FeedbackEntry): Promise<void> {
    const member = indexMember(entry.created_at, entry.id);
    await this.redis.multi().del(this.entryKey(entry.id)).zrem(this.ownerKey(entry.owner), member).zrem(this.allKey, member).exec();
  }

  private async writeFiles(entry: StoredFeedback): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    await writeAtomically(this.file(entry.id, 'png'), encodeDigitPng(entry.pixels));
    await writeAtomically(this.file(entry.id, 'json'), `${JSON.stringify(withoutPixels(entry))}\n`);
  }

  private async removeFiles(ids: readonly string[]): Promise<void> {
    // The JSON first: an entry is restored only with both, so a crash in between leaves nothing to restore.
    for (const id of ids) {
      await rm(this.file(id, 'json'), { force: true });
      await rm(this.file(id, 'png'), { force: true });
    }
  }

  /**
   * Puts the disk copy back into Redis: every `<id>.json` with its
   * `<id>.png`. Entries already in Redis are left as they are; the
   * per-owner bound applies (oldest dropped, files too).
   */
  async restoreFromDisk(): Promise<FeedbackRestore> {
    const result: FeedbackRestore = { restored: 0, present: 0, skipped: [] };
    let names: string[];
    try {
      names = (await readdir(this.options.dir)).filter((name) => name.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
      throw error;
    }
    for (let start = 0; start < names.length; start += RESTORE_CHUNK) {
      const entries: StoredFeedback[] = [];
      for (const name of names.slice(start, start + RESTORE_CHUNK)) {
        const read = await this.readFiles(name);
        if ('reason' in read) result.skipped.push({ file: join(this.options.dir, name), reason: read.reason });
        else entries.push(read.entry);
      }
      for (const entry of entries) {
        const [created, ...dropped] = await this.runAdd(entry);
        await this.removeFiles(dropped);
        if (created === 1 && !dropped.includes(entry.id)) result.restored++;
        else result.present++;
      }
    }
    return result;
  }

  /** Restores from disk when Redis holds no feedback at all (it lost it); null when it holds some. */
  async restoreIfEmpty(): Promise<FeedbackRestore | null> {
    if ((await this.count()) > 0) return null;
    return this.restoreFromDisk();
  }

  private async readFiles(jsonName: string): Promise<{ entry: StoredFeedback } | { reason: string }> {
    const id = jsonName.slice(0, -'.json'.length);
    let fields: FeedbackEntry;
    try {
      const parsed = feedbackEntrySchema.safeParse(JSON.parse(await readFile(join(this.options.dir, jsonName), 'utf8')));
      if (!parsed.success) return { reason: `not a feedback entry: ${parsed.error.issues[0]?.message}` };
      fields = parsed.data;
    } catch (error) {
      return { reason: `unreadable: ${(error as Error).message}` };
    }
    if (fields.id !== id) return { reason: `holds entry ${fields.id}, not ${id}` };
    let png: Buffer;
    try {
      png = await readFile(this.file(id, 'png'));
    } catch (error) {
      return { reason: `its image ${id}.png is unreadable: ${(error as Error).message}` };
    }
    const pixels = decodeDigitPng(png);
    if (!pixels) return { reason: `its image ${id}.png is not a ${DIGIT_SIDE}x${DIGIT_SIDE} 8-bit greyscale PNG` };
    return { entry: { ...fields, pixels } };
  }
}

/** Writes a file whole or not at all: a temporary file beside it, then a rename. */
async function writeAtomically(path: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, content);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
