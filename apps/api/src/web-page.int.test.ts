/** The page at / and what it asks the API for: its files with a same-origin CSP, GET /v1/queues, POST /predict's include option. */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { createTestStack, fakeResult, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await createTestStack();
});
afterAll(async () => {
  await stack.close();
});

describe('the page at /', () => {
  it('serves the built page and its files, each with a CSP that allows this origin only', async () => {
    const page = await request(stack.app).get('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/^default-src 'self';/);
    expect(page.text).toContain('<canvas id="pad"');
    for (const [file, type] of [
      ['app.js', /javascript/],
      ['styles.css', /text\/css/],
      ['favicon.svg', /image\/svg\+xml/],
    ] as const) {
      const res = await request(stack.app).get(`/web/${file}`);
      expect(res.status, file).toBe(200);
      expect(res.headers['content-type'], file).toMatch(type);
      expect(res.headers['content-security-policy'], file).toMatch(/^default-src 'self';/);
    }
    // Nothing in the page names another host.
    const script = (await request(stack.app).get('/web/app.js')).text;
    expect(`${page.text}\n${script}`.match(/\b(?:src|href)="https?:\/\//g)).toBeNull();
    expect((await request(stack.app).get('/web/nothing.js')).status).toBe(404);
  });

  it('GET /v1/queues answers the counts per queue', async () => {
    await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'anonymous', webhook: null });
    const res = await request(stack.app).get('/v1/queues');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      data: [
        { name: 'inference', waiting: 1, active: 0, completed: 0, failed: 0 },
        { name: 'training', waiting: 0, active: 0, completed: 0, failed: 0 },
        { name: 'webhooks', waiting: 0, active: 0, completed: 0, failed: 0 },
      ],
    });
    await stack.queue.obliterate({ force: true });
  });

  it('POST /predict with include=input,explanation,engine answers the pixels it sent, and asks the worker to explain', async () => {
    const explanation = Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i % 28 === 14 ? 1 : 0));
    const seen: unknown[] = [];
    await stack.startWorker(async (job) => {
      seen.push(job.data.explain);
      return { ...fakeResult(job, 3), ...(job.data.explain ? { explanation, engine: 'tfjs (stub)' } : {}) };
    });
    const res = await request(stack.app).post('/predict').attach('file', await fixtures.digit(3), 'three.png').field('include', 'input,explanation,engine');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.prediction).toBe(3);
    expect(res.body.input).toHaveLength(PIXELS_PER_IMAGE);
    expect(res.body.input.some((v: number) => v > 128)).toBe(true);
    expect(res.body.explanation).toEqual(explanation);
    expect(res.body.engine).toBe('tfjs (stub)');

    const plain = await request(stack.app).post('/predict').attach('file', await fixtures.digit(3), 'three.png');
    expect(plain.status).toBe(200);
    expect(Object.keys(plain.body).sort()).toEqual(['confidence', 'job_id', 'model', 'prediction', 'probabilities']);
    expect(seen).toEqual([true, undefined]);

    const wrong = await request(stack.app).post('/predict').attach('file', await fixtures.digit(3), 'three.png').field('include', 'input,saliency');
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('VALIDATION_FAILED');
  });
});
