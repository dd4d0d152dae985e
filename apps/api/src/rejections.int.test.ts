/** digitq_http_rejections_total: 429 and 503 error answers counted by status and code, nothing else. */
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError, PIXELS_PER_IMAGE } from '@digitq/contracts';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
afterEach(async () => {
  await stack.close();
});

/** The app's rejection counter, as Prometheus scrapes it: `status/code` -> count. */
async function rejections(app: Express): Promise<Record<string, number>> {
  const res = await request(app).get('/metrics');
  expect(res.status).toBe(200);
  const counts: Record<string, number> = {};
  for (const match of res.text.matchAll(/^digitq_http_rejections_total\{status="(\d+)",code="([A-Z_]+)"\} (\d+)$/gm)) {
    counts[`${match[1]}/${match[2]}`] = Number(match[3]);
  }
  return counts;
}

describe('digitq_http_rejections_total', () => {
  it('counts 429 QUEUE_FULL and RATE_LIMITED (on /v1 and the Open Inference Protocol routes alike), not other errors', async () => {
    stack = await createTestStack({ MAX_QUEUED_JOBS: 1, RATE_LIMIT_PER_S: 3 });
    await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'filler', webhook: null });
    const image = await fixtures.digit(2);
    expect((await request(stack.app).post('/v1/jobs').attach('image', image, 'two.png')).status).toBe(429);
    expect((await request(stack.app).get('/v1/jobs/no-such-job')).status).toBe(404);
    // At once, so they fall in one rate-limit window whatever the machine's speed.
    const statuses = await Promise.all(Array.from({ length: 10 }, (_, i) => request(stack.app).get(i % 2 === 0 ? '/v1/jobs' : '/v2').then((res) => res.status)));
    const limited = statuses.filter((status) => status === 429).length;
    // The limit is per owner across both: some of each are refused.
    expect(statuses.filter((status, i) => status === 429 && i % 2 === 1).length).toBeGreaterThan(0);
    expect(statuses.filter((status, i) => status === 429 && i % 2 === 0).length).toBeGreaterThan(0);

    expect(await rejections(stack.app)).toEqual({ '429/QUEUE_FULL': 1, '429/RATE_LIMITED': limited });
  });

  it('counts 503 SERVICE_UNAVAILABLE', async () => {
    stack = await createTestStack();
    const unavailable = new Proxy(stack.jobs, {
      get: (target, property, receiver) =>
        property === 'submit' ? () => Promise.reject(new AppError('SERVICE_UNAVAILABLE', 'the queue is unavailable')) : Reflect.get(target, property, receiver),
    });
    const app = stack.appWith({ jobs: unavailable });
    expect((await request(app).post('/v1/jobs').attach('image', await fixtures.digit(4), 'four.png')).status).toBe(503);
    expect(await rejections(app)).toEqual({ '503/SERVICE_UNAVAILABLE': 1 });
  });
});
