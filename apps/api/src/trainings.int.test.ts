/** /v1/trainings and /v1/models over HTTP: validation, idempotency, tenancy, who may activate. */
import { resolve } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestStack, type TestStack } from '../test/api-stack.ts';

const KEY_A = 'sk_test_aaaaaaaaaaaaaaaa';
const KEY_B = 'sk_test_bbbbbbbbbbbbbbbb';
const ADMIN = 'sk_admin_cccccccccccccccc';

let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('POST /v1/trainings', () => {
  it('queues a validated training with defaults filled in', async () => {
    stack = await createTestStack();
    const res = await request(stack.app).post('/v1/trainings').send({ epochs: 3, architecture: 'tiny' }).expect(202);
    expect(res.headers.location).toBe(`/v1/trainings/${res.body.id}`);
    expect(res.body).toMatchObject({ status: 'queued', request: { dataset: 'mnist', epochs: 3, batch_size: 64, model_name: 'digitnet' }, progress: null, model: null });
    expect(await stack.queues[1]!.count()).toBe(1);
  });

  it('answers 400 naming the field for out-of-range or unknown settings, and queues nothing', async () => {
    stack = await createTestStack();
    for (const body of [{ epochs: 0 }, { epochs: 1000 }, { batch_size: 3 }, { dataset: 'http://evil' }, { model_name: 'Bad Name' }, { surprise: true }]) {
      const res = await request(stack.app).post('/v1/trainings').send(body).expect(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    await request(stack.app).post('/v1/trainings').set('content-type', 'text/plain').send('epochs=2').expect(415);
    expect(await stack.queues[1]!.count()).toBe(0);
  });

  it('replays the same training for the same Idempotency-Key and body, 409 for another body', async () => {
    stack = await createTestStack();
    const first = await request(stack.app).post('/v1/trainings').set('Idempotency-Key', 'train-1').send({ epochs: 2 }).expect(202);
    const again = await request(stack.app).post('/v1/trainings').set('Idempotency-Key', 'train-1').send({ epochs: 2 });
    expect(again.body.id).toBe(first.body.id);
    const conflict = await request(stack.app).post('/v1/trainings').set('Idempotency-Key', 'train-1').send({ epochs: 5 }).expect(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await stack.queues[1]!.count()).toBe(1);
  });

  it('shows and cancels a training only for the key that started it', async () => {
    stack = await createTestStack({ API_KEYS: [{ id: 'a', key: KEY_A }, { id: 'b', key: KEY_B }] } as never);
    const started = await request(stack.app).post('/v1/trainings').auth(KEY_A, { type: 'bearer' }).send({ epochs: 2 }).expect(202);
    await request(stack.app).get(`/v1/trainings/${started.body.id}`).auth(KEY_B, { type: 'bearer' }).expect(404);
    await request(stack.app).post(`/v1/trainings/${started.body.id}/cancel`).auth(KEY_B, { type: 'bearer' }).expect(404);
    const canceled = await request(stack.app).post(`/v1/trainings/${started.body.id}/cancel`).auth(KEY_A, { type: 'bearer' }).expect(200);
    expect(canceled.body.status).toBe('canceled');
  });
});

describe('POST /v1/models/:name/:version/activate', () => {
  it('is for operators: an API key gets 403, the admin key may activate', async () => {
    stack = await createTestStack({ API_KEYS: [{ id: 'a', key: KEY_A }], ADMIN_API_KEY: ADMIN } as never);
    const res = await request(stack.app).post('/v1/models/digitnet/v1/activate').auth(KEY_A, { type: 'bearer' });
    expect([401, 403]).toContain(res.status);
    const missing = await request(stack.app).post('/v1/models/digitnet/v1/activate').auth(ADMIN, { type: 'bearer' });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('MODEL_NOT_FOUND');
  });

  it('activates a variant of a version (?variant=int8), back to fp32 without one, and refuses an unknown variant', async () => {
    stack = await createTestStack({ ADMIN_API_KEY: ADMIN } as never);
    // The committed version, with its int8 and fp16 files.
    await stack.registry.publishFolder(resolve(import.meta.dirname, '../../../models/digitnet/v1'));
    await request(stack.app).post('/v1/models/digitnet/v1/activate?variant=int8').auth(ADMIN, { type: 'bearer' }).expect(200);
    expect(await stack.registry.activeVariant('digitnet')).toBe('int8');
    await request(stack.app).post('/v1/models/digitnet/v1/activate').auth(ADMIN, { type: 'bearer' }).expect(200);
    expect(await stack.registry.activeVariant('digitnet')).toBe('fp32');
    const bogus = await request(stack.app).post('/v1/models/digitnet/v1/activate?variant=int4').auth(ADMIN, { type: 'bearer' }).expect(400);
    expect(bogus.body.error.code).toBe('VALIDATION_FAILED');
  });
});
