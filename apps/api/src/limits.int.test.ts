/** Backpressure (429 QUEUE_FULL) and the per-key rate limit (429 RATE_LIMITED), against real Redis. */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { QUEUE_COUNT_CACHE_MS, QUEUE_FULL_RETRY_AFTER_S } from './middleware/backpressure.ts';
import { TEST_CONFIG, createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

const ALICE = 'sk_test_alice_0123456789abcdef';
const BOB = 'sk_test_bob_0123456789abcdefgh';
const API_KEYS = [
  { name: 'alice', key: ALICE },
  { name: 'bob', key: BOB },
];

let stack: TestStack;
afterEach(async () => {
  await stack.close();
});

async function fillQueue(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'filler', webhook: null });
  }
}

describe('backpressure', () => {
  it('refuses submits with 429 QUEUE_FULL and Retry-After once MAX_QUEUED_JOBS jobs wait (no workers), and admits again when there is room', async () => {
    stack = await createTestStack({ MAX_QUEUED_JOBS: 3 });
    await fillQueue(3);
    const image = await fixtures.digit(2);
    const job = await request(stack.app).post('/v1/jobs').attach('image', image, 'two.png');
    expect(job.status).toBe(429);
    expect(job.body.error.code).toBe('QUEUE_FULL');
    expect(job.headers['retry-after']).toBe(String(QUEUE_FULL_RETRY_AFTER_S));
    const predict = await request(stack.app).post('/predict').attach('file', image, 'two.png');
    expect(predict.status).toBe(429);
    expect(predict.body.error.code).toBe('QUEUE_FULL');
    expect(await stack.jobs.queuedCount()).toBe(3);
    // Reads are not submits.
    expect((await request(stack.app).get('/v1/jobs')).status).toBe(200);

    await stack.queue.drain();
    await new Promise((resolve) => setTimeout(resolve, QUEUE_COUNT_CACHE_MS + 50));
    expect((await request(stack.app).post('/v1/jobs').attach('image', image, 'two.png')).status).toBe(202);
  });

  it('reads the queue length at most once per cache window, however many requests arrive', async () => {
    stack = await createTestStack({ MAX_QUEUED_JOBS: 1000 });
    let reads = 0;
    const counting = new Proxy(stack.jobs, {
      get: (target, property, receiver) =>
        property === 'queuedCount'
          ? () => {
              reads++;
              return target.queuedCount();
            }
          : Reflect.get(target, property, receiver),
    });
    const app = stack.appWith({ jobs: counting });
    // Empty bodies: admitted, then refused by the body check (400 NO_IMAGE) without enqueueing anything.
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(app).post('/v1/jobs')));
    expect(answers.every((res) => res.status === 400)).toBe(true);
    expect(reads).toBeLessThanOrEqual(2);
  });
});

describe('rate limit', () => {
  it('answers 429 RATE_LIMITED with Retry-After and RateLimit headers past RATE_LIMIT_PER_S for one key; another key is unaffected', async () => {
    stack = await createTestStack({ API_KEYS, RATE_LIMIT_PER_S: 3 });
    const asAlice = () => request(stack.app).get('/v1/jobs').set('Authorization', `Bearer ${ALICE}`);
    const answers = await Promise.all([asAlice(), asAlice(), asAlice(), asAlice(), asAlice()]);
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = answers.find((res) => res.status === 429)!;
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(1);
    expect(limited.headers.ratelimit).toMatch(/r=0/);
    expect(limited.headers['ratelimit-policy']).toMatch(/q=3; w=1/);

    const bob = await request(stack.app).get('/v1/jobs').set('Authorization', `Bearer ${BOB}`);
    expect(bob.status).toBe(200);
    expect(bob.headers.ratelimit).toMatch(/r=2/);
  });

  it('is shared by every API instance through Redis', async () => {
    stack = await createTestStack({ API_KEYS, RATE_LIMIT_PER_S: 2 });
    const second = stack.appWith({ config: { ...TEST_CONFIG, API_KEYS, RATE_LIMIT_PER_S: 2 } });
    const statuses = await Promise.all(
      [stack.app, second, stack.app, second].map((app) => request(app).get('/v1/jobs').set('Authorization', `Bearer ${ALICE}`).then((res) => res.status)),
    );
    expect(statuses.sort()).toEqual([200, 200, 429, 429]);
  });

  it('is off with RATE_LIMIT_PER_S=0: no RateLimit headers', async () => {
    stack = await createTestStack({ API_KEYS });
    const res = await request(stack.app).get('/v1/jobs').set('Authorization', `Bearer ${ALICE}`);
    expect(res.status).toBe(200);
    expect(res.headers.ratelimit).toBeUndefined();
  });
});
