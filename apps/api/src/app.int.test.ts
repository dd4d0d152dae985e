/** Cross-cutting behaviour of the app: liveness, unknown routes, request ids, unexpected errors. */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});
afterAll(async () => {
  await stack.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('app', () => {
  it('GET /healthz is 200 {"status":"ok"}', async () => {
    const res = await request(stack.app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('an unknown route is 404 ROUTE_NOT_FOUND as JSON', async () => {
    const res = await request(stack.app).delete('/v1/jobs');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'ROUTE_NOT_FOUND', message: 'no route for DELETE /v1/jobs' } });
  });

  it('echoes a sane X-Request-Id and replaces anything else with a UUID, on success and error', async () => {
    const kept = await request(stack.app).get('/healthz').set('X-Request-Id', 'edge-1234.abc');
    expect(kept.headers['x-request-id']).toBe('edge-1234.abc');
    const replaced = await request(stack.app).get('/nowhere').set('X-Request-Id', 'x'.repeat(500));
    expect(replaced.status).toBe(404);
    expect(replaced.headers['x-request-id']).toMatch(UUID);
    const fresh = await request(stack.app).post('/v1/jobs').set('X-Request-Id', 'has spaces in it');
    expect(fresh.status).toBe(400);
    expect(fresh.headers['x-request-id']).toMatch(UUID);
  });

  it('answers an unexpected error as 500 INTERNAL without leaking its message', async () => {
    const app = stack.appWith({
      preprocess: async () => {
        throw new Error('secret internal detail');
      },
    });
    const res = await request(app).post('/v1/jobs').attach('image', await fixtures.digit(1), 'one.png');
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('INTERNAL');
    expect(res.body.error.message).not.toContain('secret');
    expect(res.body.error.message).toContain(res.headers['x-request-id']);
  });
});
