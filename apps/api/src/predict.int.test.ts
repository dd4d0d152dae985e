/** POST /predict: submit, wait, answer — with a stand-in worker for the success and failure paths. */
import { UnrecoverableError } from 'bullmq';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { errorResponseSchema, predictResponseSchema } from '@digitq/contracts';
import { createTestStack, fakeResult, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('POST /predict', () => {
  it('answers 200 with the prediction, probabilities, model and job id', async () => {
    stack = await createTestStack();
    await stack.startWorker(async (job) => fakeResult(job, 5));
    const res = await request(stack.app).post('/predict').attach('file', await fixtures.digit(5), 'five.png');
    expect(res.status).toBe(200);
    const body = predictResponseSchema.parse(res.body);
    expect(body).toMatchObject({ prediction: 5, confidence: 0.991, model: { name: 'digitnet', version: 'v1' } });
    expect(body.probabilities).toHaveLength(10);
    const job = await stack.queue.getJob(body.job_id);
    expect(job?.data).toMatchObject({ owner: 'anonymous', webhook: null, model: null });
  });

  it('also takes the file in the field "image", and a model', async () => {
    stack = await createTestStack();
    await stack.startWorker(async (job) => fakeResult(job, 2));
    const res = await request(stack.app).post('/predict').attach('image', await fixtures.digit(2, 'jpeg'), 'two.jpg').field('model', 'digitnet@v1');
    expect(res.status).toBe(200);
    expect(res.body.prediction).toBe(2);
    expect((await stack.queue.getJob(res.body.job_id))?.data.model).toBe('digitnet@v1');
  });

  it('answers 504 TIMEOUT with the job id and a Location when nothing processes the job in time', async () => {
    stack = await createTestStack({ PREDICT_TIMEOUT_MS: 300 });
    const res = await request(stack.app).post('/predict').attach('file', await fixtures.digit(5), 'five.png');
    expect(res.status).toBe(504);
    const body = errorResponseSchema.parse(res.body);
    expect(body.error.code).toBe('TIMEOUT');
    expect(body.job_id).toBeDefined();
    expect(res.headers.location).toBe(`/v1/jobs/${body.job_id}`);
    const later = await request(stack.app).get(res.headers.location!);
    expect(later.body).toMatchObject({ id: body.job_id, status: 'queued' });
  });

  it('answers a job the worker rejected as bad input with its code and 422', async () => {
    stack = await createTestStack();
    await stack.startWorker(async () => {
      throw new UnrecoverableError('IMAGE_CORRUPT: the pixels could not be read');
    });
    const res = await request(stack.app).post('/predict').attach('file', await fixtures.digit(5), 'five.png');
    expect(res.status).toBe(422);
    expect(res.body).toEqual({ error: { code: 'IMAGE_CORRUPT', message: 'the pixels could not be read' }, job_id: expect.any(String) });
  });

  it('answers a job that failed for another reason with 500 and the job error', async () => {
    stack = await createTestStack();
    await stack.startWorker(async () => {
      throw new UnrecoverableError('MODEL_CRASHED: out of memory');
    });
    const res = await request(stack.app).post('/predict').attach('file', await fixtures.digit(5), 'five.png');
    expect(res.status).toBe(500);
    expect(res.body.error).toEqual({ code: 'MODEL_CRASHED', message: 'out of memory' });
  });
});
