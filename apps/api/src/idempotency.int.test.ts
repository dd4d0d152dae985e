/** Idempotency-Key on POST /v1/jobs: replay, conflict, concurrency, per-owner keys. */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobView } from '@digitq/contracts';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
afterEach(async () => {
  await stack.close();
});

async function jobCount(): Promise<number> {
  return stack.jobs.queuedCount();
}

async function multipart(key: string, digit = 4, fields: Record<string, string> = {}) {
  let req = request(stack.app)
    .post('/v1/jobs')
    .set('Idempotency-Key', key)
    .attach('image', await fixtures.digit(digit), 'digit.png');
  for (const [name, value] of Object.entries(fields)) req = req.field(name, value);
  return req;
}

describe('Idempotency-Key', () => {
  it('replays the same job for the same key and body, marked Idempotent-Replayed, with one job enqueued', async () => {
    stack = await createTestStack();
    const first = await multipart('order-1', 4, { priority: '7' });
    expect(first.status).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await multipart('order-1', 4, { priority: '7' });
    expect(again.status).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((again.body as JobView).id).toBe((first.body as JobView).id);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await jobCount()).toBe(1);
  });

  it('409 IDEMPOTENCY_CONFLICT for the same key with another image or other fields', async () => {
    stack = await createTestStack();
    expect((await multipart('order-2', 4)).status).toBe(202);
    const otherImage = await multipart('order-2', 5);
    expect(otherImage.status).toBe(409);
    expect(otherImage.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const otherFields = await multipart('order-2', 4, { priority: '9' });
    expect(otherFields.status).toBe(409);
    expect(await jobCount()).toBe(1);
  });

  it('treats JSON bodies with the same content in another key order as the same request', async () => {
    stack = await createTestStack();
    const image = (await fixtures.digit(6)).toString('base64');
    const first = await request(stack.app).post('/v1/jobs').set('Idempotency-Key', 'json-1').send({ images: [image], priority: 3 });
    const reordered = await request(stack.app)
      .post('/v1/jobs')
      .set('Idempotency-Key', 'json-1')
      .set('Content-Type', 'application/json')
      .send(`{"priority":3,"images":["${image}"]}`);
    expect(first.status).toBe(202);
    expect(reordered.status).toBe(202);
    expect(reordered.body.id).toBe(first.body.id);
    expect(await jobCount()).toBe(1);
  });

  it('creates one job for concurrent identical requests; the others get it too', async () => {
    stack = await createTestStack();
    const image = await fixtures.digit(8);
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => request(stack.app).post('/v1/jobs').set('Idempotency-Key', 'burst-1').attach('image', image, 'eight.png')),
    );
    expect(answers.map((res) => res.status)).toEqual(Array(6).fill(202));
    expect(new Set(answers.map((res) => res.body.id)).size).toBe(1);
    expect(answers.filter((res) => res.headers['idempotent-replayed'] === 'true')).toHaveLength(5);
    expect(await jobCount()).toBe(1);
  });

  it('releases the key when the request fails, so a corrected retry with it goes through', async () => {
    stack = await createTestStack();
    const bad = await multipart('fix-1', 4, { priority: '11' });
    expect(bad.status).toBe(400);
    const fixed = await multipart('fix-1', 4, { priority: '10' });
    expect(fixed.status).toBe(202);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    expect(await jobCount()).toBe(1);
  });

  it('keeps keys per API key: two keys may use the same Idempotency-Key for different jobs', async () => {
    const alice = 'sk_test_alice_0123456789abcdef';
    const bob = 'sk_test_bob_0123456789abcdefgh';
    stack = await createTestStack({ API_KEYS: [{ name: 'alice', key: alice }, { name: 'bob', key: bob }] });
    const image = await fixtures.digit(1);
    const send = (key: string) => request(stack.app).post('/v1/jobs').set('Authorization', `Bearer ${key}`).set('Idempotency-Key', 'shared').attach('image', image, 'one.png');
    const a = await send(alice);
    const b = await send(bob);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.id).not.toBe(b.body.id);
    expect(await stack.redis.exists(`${stack.prefix}:idempotency:alice:shared`, `${stack.prefix}:idempotency:bob:shared`)).toBe(2);
    expect(await stack.redis.ttl(`${stack.prefix}:idempotency:alice:shared`)).toBeGreaterThan(500);
  });

  it('rejects a malformed key with 400 before anything is enqueued', async () => {
    stack = await createTestStack();
    const res = await multipart('has spaces in it');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    await stack.expectNothingEnqueued();
  });
});
