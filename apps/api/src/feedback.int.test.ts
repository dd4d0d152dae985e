/**
 * Corrections over real HTTP, Redis and BullMQ (a stand-in worker answers
 * every image "1"): POST /v1/jobs/:id/feedback, the owner's listing and
 * deletes, the admin's listing and its IDX and PNG exports read back by the
 * datasets package and sharp, and the restore from the disk copy.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { unzipSync } from 'fflate';
import sharp from 'sharp';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, decodePixels, feedbackEntrySchema, feedbackListSchema, type FeedbackEntry, type JobView } from '@digitq/contracts';
import { MNIST_FILES, loadIdxDigits } from '@digitq/datasets';
import { deleteKeysWithPrefix, useTempDirs } from '@digitq/test-utils';
import { FEEDBACK_MAX_PER_OWNER, createTestStack, fakeResult, fixtures, type TestStack } from '../test/api-stack.ts';

const ALICE = 'sk_test_alice_0123456789abcdef';
const BOB = 'sk_test_bob_0123456789abcdef01';
const ADMIN_KEY = 'admin_0123456789abcdef0123';
const API_KEYS = [
  { name: 'alice', key: ALICE },
  { name: 'bob', key: BOB },
];
const bearer = (key: string) => `Bearer ${key}`;
/** What the stand-in worker answers for every image. */
const PREDICTED = 1;
/** Jobs with this many images fail (a job that did not succeed). */
const FAILING_IMAGE_COUNT = 3;
const WAIT = 'wait=10';

const tempDir = useTempDirs('api-feedback');

let stack: TestStack;
beforeEach(async () => {
  stack = await createTestStack({ API_KEYS, ADMIN_API_KEY: ADMIN_KEY });
});
afterEach(async () => {
  await stack.close();
});

function startWorker() {
  return stack.startWorker(async (job) => {
    if (job.data.images.length === FAILING_IMAGE_COUNT) throw new UnrecoverableError('BAD_INPUT: the stand-in worker fails jobs of three images');
    return fakeResult(job, PREDICTED);
  });
}

/** Submits a job of `digits.length` drawn digits; with `wait`, answers once it finished. */
async function submit(key: string, digits: number[] = [7], wait = true): Promise<JobView> {
  let req = request(stack.app).post('/v1/jobs').set('Authorization', bearer(key));
  if (wait) req = req.set('Prefer', WAIT);
  for (const digit of digits) req = req.attach('image', await fixtures.digit(digit), `${digit}.png`);
  const res = await req;
  expect(res.status).toBe(wait ? 200 : 202);
  return res.body as JobView;
}

function correct(key: string, jobId: string, body: unknown) {
  return request(stack.app).post(`/v1/jobs/${jobId}/feedback`).set('Authorization', bearer(key)).send(body as object);
}

/** The preprocessed image `index` of a job, as the job carries it. */
async function jobImage(jobId: string, index: number): Promise<Uint8Array> {
  const job = await stack.queue.getJob(jobId);
  return decodePixels(job!.data.images[index]!);
}

describe('POST /v1/jobs/:id/feedback', () => {
  it("stores the job's image with the true label (201); the same image again replaces the label (200), another image adds one", async () => {
    await startWorker();
    const job = await submit(ALICE, [7, 2]);
    expect(job.status).toBe('succeeded');

    const first = await correct(ALICE, job.id, { label: 7 });
    expect(first.status).toBe(201);
    const entry = feedbackEntrySchema.strict().parse(first.body);
    expect(entry).toMatchObject({ owner: 'alice', job_id: job.id, index: 0, label: 7, predicted: PREDICTED, model: { name: 'digitnet', version: 'v1' } });
    expect(Date.parse(entry.created_at)).not.toBeNaN();
    expect((await stack.feedback.get(entry.id))!.pixels).toEqual(await jobImage(job.id, 0));

    const again = await correct(ALICE, job.id, { index: 0, label: 4 });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...entry, label: 4 });

    const second = await correct(ALICE, job.id, { index: 1, label: 2 });
    expect(second.status).toBe(201);
    expect(second.body.id).not.toBe(entry.id);

    const mine = await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(ALICE));
    expect(mine.status).toBe(200);
    expect(feedbackListSchema.parse(mine.body).data).toEqual([second.body, { ...entry, label: 4 }]);
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(BOB))).body).toEqual({ data: [], next_cursor: null });
  });

  it("is the job owner's only: anyone else gets 404 JOB_NOT_FOUND, as for reading the job", async () => {
    await startWorker();
    const job = await submit(ALICE);
    const read = await request(stack.app).get(`/v1/jobs/${job.id}`).set('Authorization', bearer(BOB));
    const res = await correct(BOB, job.id, { label: 3 });
    expect([read.status, res.status]).toEqual([404, 404]);
    expect(res.body.error).toEqual({ code: 'JOB_NOT_FOUND', message: `no job ${job.id}` });
    expect(read.body.error.code).toBe('JOB_NOT_FOUND');
    expect((await correct(ALICE, 'no-such-job', { label: 3 })).body.error.code).toBe('JOB_NOT_FOUND');
    expect(await stack.feedback.count()).toBe(0);
  });

  it('refuses a bad label or index (400), an index beyond the images (422), a job that has not succeeded (409)', async () => {
    // Queued: no worker yet.
    const queued = await submit(ALICE, [7], false);
    const notYet = await correct(ALICE, queued.id, { label: 7 });
    expect(notYet.status).toBe(409);
    expect(notYet.body.error).toEqual({ code: 'JOB_NOT_SUCCEEDED', message: `job ${queued.id} is queued; only a succeeded job's answers can be corrected` });

    await startWorker();
    const failed = await submit(ALICE, [1, 2, 3]);
    expect(failed.status).toBe('failed');
    expect((await correct(ALICE, failed.id, { label: 1 })).body.error.code).toBe('JOB_NOT_SUCCEEDED');

    const job = await submit(ALICE, [7]);
    for (const body of [{ label: 10 }, { label: -1 }, { label: '7' }, { label: 7.5 }, {}, { index: -1, label: 7 }, { index: 0.5, label: 7 }, { label: 7, extra: true }]) {
      const res = await correct(ALICE, job.id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    const beyond = await correct(ALICE, job.id, { index: 1, label: 7 });
    expect(beyond.status).toBe(422);
    expect(beyond.body.error).toEqual({ code: 'INDEX_OUT_OF_RANGE', message: `job ${job.id} has 1 image; index 1 is out of range (0 to 0)` });
    const text = await request(stack.app).post(`/v1/jobs/${job.id}/feedback`).set('Authorization', bearer(ALICE)).set('Content-Type', 'text/plain').send('7');
    expect(text.status).toBe(415);
    expect(await stack.feedback.count()).toBe(0);
  });

  it('keeps at most FEEDBACK_MAX_PER_OWNER corrections per owner, dropping the oldest; other owners keep theirs', async () => {
    await startWorker();
    const bobs = await correct(BOB, (await submit(BOB)).id, { label: 0 });
    const ids: string[] = [];
    for (let i = 0; i < FEEDBACK_MAX_PER_OWNER + 2; i++) {
      const job = await submit(ALICE);
      ids.push((await correct(ALICE, job.id, { label: i % 10 })).body.id);
    }
    const mine = await request(stack.app).get('/v1/feedback/mine?limit=100').set('Authorization', bearer(ALICE));
    expect(mine.body.data.map((e: FeedbackEntry) => e.id)).toEqual(ids.slice(2).reverse());
    expect(await stack.feedback.get(ids[0]!)).toBeNull();
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(BOB))).body.data).toEqual([bobs.body]);
  });
});

describe('DELETE /v1/feedback', () => {
  it("deletes one of the caller's corrections (someone else's is 404), or all of them", async () => {
    await startWorker();
    const job = await submit(ALICE, [7, 2]);
    const a = (await correct(ALICE, job.id, { index: 0, label: 7 })).body as FeedbackEntry;
    const b = (await correct(ALICE, job.id, { index: 1, label: 2 })).body as FeedbackEntry;
    const bobs = (await correct(BOB, (await submit(BOB)).id, { label: 5 })).body as FeedbackEntry;

    const notHis = await request(stack.app).delete(`/v1/feedback/${a.id}`).set('Authorization', bearer(BOB));
    expect(notHis.status).toBe(404);
    expect(notHis.body.error).toEqual({ code: 'FEEDBACK_NOT_FOUND', message: `no feedback ${a.id}` });
    const deleted = await request(stack.app).delete(`/v1/feedback/${a.id}`).set('Authorization', bearer(ALICE));
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: 1 });
    expect((await request(stack.app).delete(`/v1/feedback/${a.id}`).set('Authorization', bearer(ALICE))).status).toBe(404);
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(ALICE))).body.data).toEqual([b]);

    // Corrected again after its deletion: a new entry.
    expect((await correct(ALICE, job.id, { index: 0, label: 1 })).status).toBe(201);
    const all = await request(stack.app).delete('/v1/feedback').set('Authorization', bearer(ALICE));
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ deleted: 2 });
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(ALICE))).body.data).toEqual([]);
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(BOB))).body.data).toEqual([bobs]);
  });
});

describe('GET /v1/feedback (admin)', () => {
  /** Corrections from both owners, FEEDBACK_MAX_PER_OWNER each, with each image's pixels as the job carried them. */
  async function someCorrections(): Promise<Map<string, { entry: FeedbackEntry; pixels: Uint8Array }>> {
    await startWorker();
    const made = new Map<string, { entry: FeedbackEntry; pixels: Uint8Array }>();
    for (const key of [ALICE, BOB]) {
      for (let i = 0; i < FEEDBACK_MAX_PER_OWNER; i++) {
        // A different digit each (alice 0-4, bob 5-9), so each image names its correction.
        const job = await submit(key, [key === ALICE ? i : FEEDBACK_MAX_PER_OWNER + i]);
        const res = await correct(key, job.id, { label: (i + 3) % 10 });
        expect(res.status).toBe(201);
        made.set(res.body.id, { entry: res.body, pixels: await jobImage(job.id, 0) });
      }
    }
    return made;
  }

  it('needs the admin credentials; lists every owner, newest first, a page at a time', async () => {
    const made = await someCorrections();
    expect((await request(stack.app).get('/v1/feedback')).status).toBe(401);
    expect((await request(stack.app).get('/v1/feedback').set('Authorization', bearer(ALICE))).status).toBe(401);
    const seen: FeedbackEntry[] = [];
    let cursor: string | null = null;
    do {
      const res = await request(stack.app)
        .get('/v1/feedback')
        .query({ limit: 3, ...(cursor ? { cursor } : {}) })
        .set('Authorization', bearer(ADMIN_KEY));
      expect(res.status).toBe(200);
      const page = feedbackListSchema.parse(res.body);
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen.map((e) => e.id).sort()).toEqual([...made.keys()].sort());
    expect(seen.map((e) => e.created_at)).toEqual(seen.map((e) => e.created_at).sort().reverse());
    const bobs = await request(stack.app).get('/v1/feedback?owner=bob').set('Authorization', bearer(ADMIN_KEY));
    expect(bobs.body.data.map((e: FeedbackEntry) => e.owner)).toEqual(Array(FEEDBACK_MAX_PER_OWNER).fill('bob'));
    expect((await request(stack.app).get('/v1/feedback?format=csv').set('Authorization', bearer(ADMIN_KEY))).body.error.code).toBe('VALIDATION_FAILED');
  });

  it('exports IDX like MNIST: the datasets package reads back the same pixels and labels, held-back entries as the test split', async () => {
    const made = await someCorrections();
    const res = await request(stack.app).get('/v1/feedback?format=idx').set('Authorization', bearer(ADMIN_KEY)).buffer(true).parse(binary);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe('attachment; filename=feedback-idx.zip');
    const dir = tempDir();
    const files = unzipSync(new Uint8Array(res.body as Buffer));
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    const heldback = [...made.values()].filter(({ entry }) => entry.heldback);
    expect(Object.keys(files).sort()).toEqual(
      [MNIST_FILES.train.images, MNIST_FILES.train.labels, ...(heldback.length > 0 ? [MNIST_FILES.test.images, MNIST_FILES.test.labels] : [])].sort(),
    );

    const train = await loadIdxDigits(dir, 'train');
    const expectedTrain = [...made.values()].filter(({ entry }) => !entry.heldback);
    expect(train.count).toBe(expectedTrain.length);
    // Oldest first, as the store keeps them: match each image to its correction.
    const byPixels = new Map([...made.values()].map(({ entry, pixels }) => [Buffer.from(pixels).toString('hex'), entry]));
    for (let i = 0; i < train.count; i++) {
      const entry = byPixels.get(Buffer.from(train.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE)).toString('hex'));
      expect(entry).toMatchObject({ label: train.labels[i], heldback: false });
    }
    if (heldback.length > 0) {
      const test = await loadIdxDigits(dir, 'test');
      expect(test.count).toBe(heldback.length);
      for (let i = 0; i < test.count; i++) {
        const entry = byPixels.get(Buffer.from(test.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE)).toString('hex'));
        expect(entry).toMatchObject({ label: test.labels[i], heldback: true });
      }
    }
  });

  it('exports PNGs as <label>/<id>.png, the folder: layout: each decodes to its pixels', async () => {
    const made = await someCorrections();
    const res = await request(stack.app).get('/v1/feedback?format=png&owner=alice').set('Authorization', bearer(ADMIN_KEY)).buffer(true).parse(binary);
    expect(res.status).toBe(200);
    const files = unzipSync(new Uint8Array(res.body as Buffer));
    const alices = [...made.values()].filter(({ entry }) => entry.owner === 'alice');
    // Folders (their own zip entries) and one PNG per correction in its label's folder.
    const labels = [...new Set(alices.map(({ entry }) => `${entry.label}/`))];
    expect(Object.keys(files).sort()).toEqual([...labels, ...alices.map(({ entry }) => `${entry.label}/${entry.id}.png`)].sort());
    for (const { entry, pixels } of alices) {
      const png = files[`${entry.label}/${entry.id}.png`]!;
      const metadata = await sharp(png).metadata();
      expect([metadata.width, metadata.height, metadata.channels, metadata.space]).toEqual([28, 28, 1, 'b-w']);
      const data = await sharp(png).toColourspace('b-w').raw().toBuffer();
      expect(new Uint8Array(data)).toEqual(pixels);
    }
  });
});

describe('the disk copy', () => {
  it('restores what Redis lost: the same entries, served again', async () => {
    await startWorker();
    const job = await submit(ALICE, [7, 2]);
    const a = (await correct(ALICE, job.id, { index: 0, label: 7 })).body as FeedbackEntry;
    const b = (await correct(ALICE, job.id, { index: 1, label: 4 })).body as FeedbackEntry;
    await deleteKeysWithPrefix(stack.redis, `${stack.prefix}:feedback`);
    expect((await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(ALICE))).body.data).toEqual([]);

    expect(await stack.feedback.restoreIfEmpty()).toEqual({ restored: 2, present: 0, skipped: [] });
    const mine = await request(stack.app).get('/v1/feedback/mine').set('Authorization', bearer(ALICE));
    expect(mine.body.data.map((e: FeedbackEntry) => e.id).sort()).toEqual([a.id, b.id].sort());
    expect((await stack.feedback.get(b.id))!.pixels).toEqual(await jobImage(job.id, 1));
    // Corrected again: still one entry (the restored one, relabelled).
    expect((await correct(ALICE, job.id, { index: 1, label: 9 })).status).toBe(200);
  });
});

/** supertest's parser for a binary body: the bytes as a Buffer. */
function binary(res: request.Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}
