import { randomUUID } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FEEDBACK_HELDBACK_PERCENT, PIXELS_PER_IMAGE } from '@digitq/contracts';
import { deleteKeysWithPrefix, testRedisUrl, useTempDirs } from '@digitq/test-utils';
import { decodeDigitPng } from './digit-png.ts';
import { FeedbackStore, feedbackId, isHeldBack, type NewFeedback } from './feedback-store.ts';

const redis = new Redis(testRedisUrl());
const tempDir = useTempDirs('feedback-store');
const prefixes: string[] = [];
afterEach(async () => {
  for (const prefix of prefixes.splice(0)) await deleteKeysWithPrefix(redis, prefix);
});
afterAll(async () => {
  await redis.quit();
});

function newStore(maxPerOwner = 100, dir = tempDir()): { store: FeedbackStore; prefix: string; dir: string } {
  const prefix = `test-feedback-${randomUUID()}`;
  prefixes.push(prefix);
  return { store: new FeedbackStore(redis, prefix, { maxPerOwner, dir }), prefix, dir };
}

/** A distinct image per seed. */
function image(seed: number): Uint8Array {
  return Uint8Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i * 7 + seed * 13) % 256);
}

function correction(overrides: Partial<NewFeedback> = {}, seed = 1): NewFeedback {
  return { owner: 'alice', job_id: randomUUID(), index: 0, label: 7, predicted: 1, model: { name: 'digitnet', version: 'v1' }, pixels: image(seed), ...overrides };
}

describe('FeedbackStore', () => {
  it('stores an entry with its image in Redis and on disk; a second correction of the same image replaces the label', async () => {
    const { store, prefix, dir } = newStore();
    const input = correction({ label: 7 });
    const first = await store.add(input);
    expect(first.replaced).toBe(false);
    expect(first.entry).toMatchObject({ id: feedbackId(input.job_id, 0), owner: 'alice', job_id: input.job_id, index: 0, label: 7, predicted: 1, model: { name: 'digitnet', version: 'v1' } });
    expect(first.entry).not.toHaveProperty('pixels');
    expect((await store.get(first.entry.id))!.pixels).toEqual(input.pixels);
    // Every key under the prefix.
    const keys = await redis.keys(`${prefix}:*`);
    expect(keys.sort()).toEqual([`${prefix}:feedback:all`, `${prefix}:feedback:entry:${first.entry.id}`, `${prefix}:feedback:owner:alice`].sort());
    expect(decodeDigitPng(await readFile(join(dir, `${first.entry.id}.png`)))).toEqual(input.pixels);

    const second = await store.add({ ...input, label: 4 });
    expect(second.replaced).toBe(true);
    expect(second.entry).toEqual({ ...first.entry, label: 4 });
    expect(await store.count()).toBe(1);
    expect((await store.list({ limit: 10 })).data).toEqual([second.entry]);
    expect(JSON.parse(await readFile(join(dir, `${first.entry.id}.json`), 'utf8'))).toEqual(second.entry);
    // Another image of the same job is another entry.
    expect((await store.add({ ...input, index: 1 })).replaced).toBe(false);
    expect(await store.count()).toBe(2);
  });

  it('keeps at most maxPerOwner entries per owner, dropping the oldest (files too); other owners are untouched', async () => {
    const { store, dir } = newStore(3);
    const bob = await store.add(correction({ owner: 'bob' }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await store.add(correction({}, i))).entry.id);
      // Distinct creation times, so "oldest" is unambiguous.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(await store.count('alice')).toBe(3);
    expect((await store.list({ owner: 'alice', limit: 10 })).data.map((e) => e.id)).toEqual(ids.slice(2).reverse());
    expect(await store.get(ids[0]!)).toBeNull();
    expect(await store.get(bob.entry.id)).not.toBeNull();
    expect(await store.count()).toBe(4);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual([...ids.slice(2), bob.entry.id].flatMap((id) => [`${id}.json`, `${id}.png`]).sort());
  });

  it('pages newest first with a cursor, for one owner or everyone, and filters the held-back side', async () => {
    const { store } = newStore();
    const added = [];
    for (let i = 0; i < 7; i++) {
      added.push((await store.add(correction({ owner: i % 2 ? 'bob' : 'alice' }, i))).entry);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const newestFirst = [...added].reverse();
    const seen = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 3, cursor });
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(newestFirst);
    expect((await store.list({ owner: 'bob', limit: 10 })).data).toEqual(newestFirst.filter((e) => e.owner === 'bob'));
    expect((await store.list({ heldback: false, limit: 10 })).data).toEqual(newestFirst.filter((e) => !e.heldback));
  });

  it('deletes one entry of its owner only, or all of them', async () => {
    const { store, dir } = newStore();
    const mine = await store.add(correction());
    const other = await store.add(correction({}, 2));
    const bobs = await store.add(correction({ owner: 'bob' }));
    expect(await store.delete('bob', mine.entry.id)).toBe(false);
    expect(await store.delete('alice', 'no-such-id')).toBe(false);
    expect(await store.delete('alice', mine.entry.id)).toBe(true);
    expect(await store.get(mine.entry.id)).toBeNull();
    expect(await store.delete('alice', mine.entry.id)).toBe(false);
    expect((await store.list({ limit: 10 })).data.map((e) => e.id).sort()).toEqual([other.entry.id, bobs.entry.id].sort());
    expect(await store.deleteAll('alice')).toBe(1);
    expect(await store.count('alice')).toBe(0);
    expect((await store.list({ limit: 10 })).data.map((e) => e.id)).toEqual([bobs.entry.id]);
    expect((await readdir(dir)).sort()).toEqual([`${bobs.entry.id}.json`, `${bobs.entry.id}.png`]);
  });

  it('splits held-back entries by id, the same way every time, about FEEDBACK_HELDBACK_PERCENT of them', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => feedbackId(`job-${i}`, 0));
    const held = ids.filter(isHeldBack);
    expect(held.length / ids.length).toBeGreaterThan(FEEDBACK_HELDBACK_PERCENT / 100 - 0.03);
    expect(held.length / ids.length).toBeLessThan(FEEDBACK_HELDBACK_PERCENT / 100 + 0.03);
    expect(ids.filter(isHeldBack)).toEqual(held);
    expect(feedbackId('job-1', 0)).toBe(feedbackId('job-1', 0));
    expect(feedbackId('job-1', 0)).not.toBe(feedbackId('job-1', 1));
  });

  it('gives the two sides of the split as digit sets, each image with its label, each entry on its side only', async () => {
    const { store } = newStore(1000);
    const expected = new Map<string, { label: number; heldback: boolean }>();
    for (let i = 0; i < 30; i++) {
      // Fixed job ids: which entries are held back is then fixed too (6 of these 30).
      const { entry } = await store.add(correction({ job_id: `dataset-job-${i}`, label: i % 10 }, i));
      expected.set(Buffer.from(image(i)).toString('hex'), { label: entry.label, heldback: entry.heldback });
    }
    const train = await store.dataset({ heldback: false });
    const heldback = await store.dataset({ heldback: true });
    expect(train.count + heldback.count).toBe(30);
    expect(heldback.count).toBeGreaterThan(0);
    expect(heldback.name).toBe('feedback-heldback');
    expect([train.rows, train.cols, train.images.length, train.labels.length]).toEqual([28, 28, train.count * PIXELS_PER_IMAGE, train.count]);
    for (const [set, isHeldBackSide] of [[train, false], [heldback, true]] as const) {
      for (let i = 0; i < set.count; i++) {
        const key = Buffer.from(set.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE)).toString('hex');
        expect(expected.get(key)).toEqual({ label: set.labels[i], heldback: isHeldBackSide });
      }
    }
  });

  it('keeps nothing when the disk copy cannot be written: the caller is told, Redis holds no entry without its copy', async () => {
    const notADir = join(tempDir(), 'a-file');
    await writeFile(notADir, 'in the way');
    const { store } = newStore(100, notADir);
    await expect(store.add(correction())).rejects.toThrow();
    expect(await store.count()).toBe(0);
    expect(await store.count('alice')).toBe(0);
  });

  it('skips an entry Redis holds damaged instead of failing the listing', async () => {
    const { store, prefix } = newStore();
    const good = await store.add(correction());
    const bad = await store.add(correction({}, 2));
    await redis.set(`${prefix}:feedback:entry:${bad.entry.id}`, '{not json');
    expect((await store.list({ limit: 10 })).data).toEqual([good.entry]);
    expect((await store.dataset({ heldback: good.entry.heldback })).count).toBe(1);
  });

  it('restores from disk what Redis lost, keeping ids, labels, times and sides; skips damaged files', async () => {
    const { store, prefix, dir } = newStore();
    const a = await store.add(correction({ label: 2 }, 5));
    const b = await store.add(correction({ owner: 'bob', label: 9 }, 6));
    await store.add({ ...correction(), job_id: a.entry.job_id, label: 3 }); // a replaced: label 3
    const damaged = await store.add(correction({}, 7));
    await writeFile(join(dir, `${damaged.entry.id}.png`), 'not a png');
    await deleteKeysWithPrefix(redis, prefix);
    expect(await store.count()).toBe(0);

    const restore = await store.restoreIfEmpty();
    expect(restore).toMatchObject({ restored: 2, present: 0 });
    expect(restore!.skipped).toEqual([{ file: join(dir, `${damaged.entry.id}.json`), reason: expect.stringContaining('not a 28x28') }]);
    expect(await store.get(a.entry.id)).toEqual({ ...a.entry, label: 3, pixels: image(5) });
    expect(await store.get(b.entry.id)).toEqual({ ...b.entry, pixels: image(6) });
    expect(await store.count('bob')).toBe(1);
    // Not empty any more: nothing to do; a full restore leaves present entries alone.
    expect(await store.restoreIfEmpty()).toBeNull();
    expect(await store.restoreFromDisk()).toMatchObject({ restored: 0, present: 2 });
    await rm(dir, { recursive: true });
    await deleteKeysWithPrefix(redis, prefix);
    expect(await store.restoreFromDisk()).toEqual({ restored: 0, present: 0, skipped: [] });
  });
});
