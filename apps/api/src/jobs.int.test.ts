/** /v1/jobs against real Redis and BullMQ: submit, read, list, cancel, Prefer: wait. */
import { UnrecoverableError } from 'bullmq';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jobViewSchema, type JobView } from '@digitq/contracts';
import { MAX_PREFER_WAIT_S } from './http/prefer.ts';
import { createTestStack, fakeResult, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
beforeEach(async () => {
  stack = await createTestStack();
});
afterEach(async () => {
  await stack.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function expectAccepted(res: request.Response, count: number): JobView {
  expect(res.status).toBe(202);
  const view = jobViewSchema.parse(res.body);
  expect(view.id).toMatch(UUID);
  expect(res.headers.location).toBe(`/v1/jobs/${view.id}`);
  expect(view).toMatchObject({ status: 'queued', input: { count }, output: null, error: null, started_at: null, completed_at: null, attempts: 0 });
  return view;
}

async function submitJson(body: Record<string, unknown> = {}): Promise<JobView> {
  const image = (await fixtures.digit(7)).toString('base64');
  const res = await request(stack.app).post('/v1/jobs').send({ images: [image], ...body });
  return expectAccepted(res, 1);
}

describe('POST /v1/jobs', () => {
  it('accepts a multipart upload: 202, Location, the job object, and the job on the queue', async () => {
    const res = await request(stack.app).post('/v1/jobs').attach('image', await fixtures.digit(5), 'five.png');
    const view = expectAccepted(res, 1);
    expect(view.model).toEqual({ name: 'digitnet', version: null });
    const job = await stack.queue.getJob(view.id);
    expect(job?.data).toMatchObject({ owner: 'anonymous', model: null, webhook: null });
    expect(job?.data.images).toHaveLength(1);
  });

  it('takes a batch of 3 images in one job', async () => {
    let req = request(stack.app).post('/v1/jobs');
    for (const digit of [1, 2, 3]) req = req.attach('image', await fixtures.digit(digit, digit === 2 ? 'jpeg' : 'png'), `${digit}.png`);
    const view = expectAccepted(await req, 3);
    expect((await stack.queue.getJob(view.id))?.data.images).toHaveLength(3);
  });

  it('takes the options as form fields: repeated and comma-separated events, priority, model', async () => {
    const res = await request(stack.app)
      .post('/v1/jobs')
      .attach('image', await fixtures.digit(5), 'five.png')
      .field('webhook', 'https://example.com/hooks/digits')
      .field('webhook_events_filter', 'job.started')
      .field('webhook_events_filter', 'job.completed')
      .field('priority', '9')
      .field('model', 'digitnet@v2');
    const view = expectAccepted(res, 1);
    expect(view.model).toEqual({ name: 'digitnet', version: 'v2' });
    const job = await stack.queue.getJob(view.id);
    expect(job?.data.webhook).toEqual({ url: 'https://example.com/hooks/digits', events: ['job.started', 'job.completed'] });
    expect(job?.data.model).toBe('digitnet@v2');
    // Clients say 10 = most urgent; BullMQ runs 1 first.
    expect(job?.opts.priority).toBe(2);

    const comma = await request(stack.app)
      .post('/v1/jobs')
      .attach('image', await fixtures.digit(5), 'five.png')
      .field('webhook', 'http://127.0.0.1:9999/h')
      .field('webhook_events_filter', 'job.started, job.completed');
    const commaJob = await stack.queue.getJob(expectAccepted(comma, 1).id);
    expect(commaJob?.data.webhook?.events).toEqual(['job.started', 'job.completed']);
  });

  it('accepts JSON with raw base64 and data: URLs, defaulting the webhook events and priority', async () => {
    const png = await fixtures.digit(3);
    const jpeg = await fixtures.digit(8, 'jpeg');
    const res = await request(stack.app)
      .post('/v1/jobs')
      .send({ images: [png.toString('base64'), `data:image/jpeg;base64,${jpeg.toString('base64')}`], webhook: 'https://example.com/h' });
    const view = expectAccepted(res, 2);
    const job = await stack.queue.getJob(view.id);
    expect(job?.data.webhook).toEqual({ url: 'https://example.com/h', events: ['job.completed'] });
    expect(job?.opts.priority).toBe(6);
  });

  it('Prefer: wait=1 holds the request about a second and answers 202 queued when no worker runs', async () => {
    const started = Date.now();
    const res = await request(stack.app).post('/v1/jobs').set('Prefer', 'wait=1').attach('image', await fixtures.digit(5), 'five.png');
    const elapsed = Date.now() - started;
    expectAccepted(res, 1);
    expect(res.headers['preference-applied']).toBe('wait=1');
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(5000);
  });

  it('Prefer: wait returns 200 and the output as soon as a worker finishes the job; long waits are clamped', async () => {
    await stack.startWorker(async (job) => fakeResult(job, 5));
    const res = await request(stack.app).post('/v1/jobs').set('Prefer', 'respond-async, wait=3600').attach('image', await fixtures.digit(5), 'five.png');
    expect(res.status).toBe(200);
    expect(res.headers['preference-applied']).toBe(`wait=${MAX_PREFER_WAIT_S}`);
    expect(res.headers.location).toBe(`/v1/jobs/${res.body.id}`);
    const view = jobViewSchema.parse(res.body);
    expect(view).toMatchObject({ status: 'succeeded', model: { name: 'digitnet', version: 'v1' }, error: null });
    expect(view.output?.predictions).toEqual([expect.objectContaining({ prediction: 5, confidence: 0.991 })]);
    expect(view.started_at).not.toBeNull();
    expect(view.completed_at).not.toBeNull();
  });
});

describe('GET /v1/jobs/:id', () => {
  it('returns the job; an unknown id is 404 JOB_NOT_FOUND', async () => {
    const submitted = await submitJson();
    const res = await request(stack.app).get(`/v1/jobs/${submitted.id}`);
    expect(res.status).toBe(200);
    expect(jobViewSchema.parse(res.body)).toEqual(submitted);

    const missing = await request(stack.app).get('/v1/jobs/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('JOB_NOT_FOUND');
    expect((await request(stack.app).get('/v1/jobs/00000000-0000-4000-8000-000000000000').set('Prefer', 'wait=5')).status).toBe(404);
  });

  it('Prefer: wait on GET returns when the worker finishes', async () => {
    const submitted = await submitJson();
    await stack.startWorker(async (job) => fakeResult(job, 7));
    const res = await request(stack.app).get(`/v1/jobs/${submitted.id}`).set('Prefer', 'wait=10');
    expect(res.status).toBe(200);
    expect(res.headers['preference-applied']).toBe('wait=10');
    expect(res.body).toMatchObject({ status: 'succeeded', output: { predictions: [{ prediction: 7 }] } });
  });

  it('shows a job the worker failed with UnrecoverableError as failed with its error code', async () => {
    await stack.startWorker(async () => {
      throw new UnrecoverableError('IMAGE_CORRUPT: the pixels could not be read');
    });
    const submitted = await submitJson();
    const res = await request(stack.app).get(`/v1/jobs/${submitted.id}`).set('Prefer', 'wait=10');
    expect(res.status).toBe(200);
    expect(jobViewSchema.parse(res.body)).toMatchObject({
      status: 'failed',
      output: null,
      error: { code: 'IMAGE_CORRUPT', message: 'the pixels could not be read' },
      attempts: 1,
    });
  });
});

describe('POST /v1/jobs/:id/cancel', () => {
  it('cancels a queued job, GET then shows it canceled, and a second cancel is idempotent', async () => {
    const submitted = await submitJson();
    const first = await request(stack.app).post(`/v1/jobs/${submitted.id}/cancel`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ id: submitted.id, status: 'canceled', error: { code: 'JOB_CANCELED' } });
    expect(first.body.completed_at).not.toBeNull();

    const read = await request(stack.app).get(`/v1/jobs/${submitted.id}`);
    expect(read.body).toMatchObject({ status: 'canceled' });

    const second = await request(stack.app).post(`/v1/jobs/${submitted.id}/cancel`);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
  });

  it('refuses a finished job with 409 JOB_FINISHED; an unknown job is 404', async () => {
    await stack.startWorker(async (job) => fakeResult(job));
    const done = await request(stack.app).post('/v1/jobs').set('Prefer', 'wait=10').send({ images: [(await fixtures.digit(1)).toString('base64')] });
    expect(done.body.status).toBe('succeeded');
    const res = await request(stack.app).post(`/v1/jobs/${done.body.id}/cancel`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('JOB_FINISHED');

    const missing = await request(stack.app).post('/v1/jobs/nope/cancel');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('GET /v1/jobs', () => {
  async function submitSeveral(n: number): Promise<JobView[]> {
    const views: JobView[] = [];
    for (let i = 0; i < n; i++) {
      views.push(await submitJson());
      // Distinct creation milliseconds, so newest-first is well defined.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    return views;
  }

  it('lists newest first, pages with limit and cursor', async () => {
    const [a, b, c] = await submitSeveral(3);
    const first = await request(stack.app).get('/v1/jobs').query({ limit: 2 });
    expect(first.status).toBe(200);
    expect(first.body.data.map((job: JobView) => job.id)).toEqual([c!.id, b!.id]);
    expect(typeof first.body.next_cursor).toBe('string');

    const second = await request(stack.app).get('/v1/jobs').query({ limit: 2, cursor: first.body.next_cursor });
    expect(second.body.data.map((job: JobView) => job.id)).toEqual([a!.id]);
    expect(second.body.next_cursor).toBeNull();

    const all = await request(stack.app).get('/v1/jobs');
    expect(all.body).toEqual({ data: expect.any(Array), next_cursor: null });
    expect(all.body.data).toHaveLength(3);
    for (const job of all.body.data) jobViewSchema.parse(job);
  });

  it('filters by status', async () => {
    const [a, b] = await submitSeveral(3);
    await request(stack.app).post(`/v1/jobs/${b!.id}/cancel`).expect(200);
    const canceled = await request(stack.app).get('/v1/jobs?status=canceled');
    expect(canceled.body.data.map((job: JobView) => job.id)).toEqual([b!.id]);
    const queued = await request(stack.app).get('/v1/jobs?status=queued&limit=5');
    expect(queued.body.data).toHaveLength(2);
    expect(queued.body.data.map((job: JobView) => job.id)).toContain(a!.id);
    expect((await request(stack.app).get('/v1/jobs?status=succeeded')).body).toEqual({ data: [], next_cursor: null });
  });

  it.each(['limit=0', 'limit=101', 'limit=ten', 'limit=1&limit=2', 'status=done', 'cursor='])('rejects ?%s with 400', async (query) => {
    const res = await request(stack.app).get(`/v1/jobs?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
  });
});
