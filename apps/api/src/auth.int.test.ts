/** API keys (owners, tenant isolation) and the admin guard on bull-board and /metrics. */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobList, JobView } from '@digitq/contracts';
import { apiKeyId } from './middleware/auth.ts';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

const ALICE = 'sk_test_alice_0123456789abcdef';
const BOB = 'sk_test_bob_0123456789abcdefgh';
const UNNAMED = 'sk_test_unnamed_0123456789abcdef';
const ADMIN_KEY = 'admin_0123456789abcdef0123';
const ADMIN_USER = 'ops';
const ADMIN_PASSWORD = 'correct horse battery';
const API_KEYS = [
  { name: 'alice', key: ALICE },
  { name: 'bob', key: BOB },
  { name: null, key: UNNAMED },
];

let stack: TestStack;
afterEach(async () => {
  await stack.close();
});

const bearer = (key: string) => `Bearer ${key}`;

async function submit(key: string): Promise<JobView> {
  const res = await request(stack.app)
    .post('/v1/jobs')
    .set('Authorization', bearer(key))
    .attach('image', await fixtures.digit(3), 'three.png');
  expect(res.status).toBe(202);
  return res.body as JobView;
}

describe('API keys', () => {
  it('401 with a Bearer challenge without a key or with a wrong one; the public routes need none', async () => {
    stack = await createTestStack({ API_KEYS });
    const missing = await request(stack.app).get('/v1/jobs');
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('UNAUTHORIZED');
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="digitq"');
    const wrong = await request(stack.app).get('/v1/jobs').set('Authorization', bearer('sk_test_nobody_0123456789abcdef'));
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="digitq", error="invalid_token"');
    const basic = await request(stack.app).post('/predict').auth('alice', ALICE);
    expect(basic.status).toBe(401);
    expect((await request(stack.app).post('/predict')).status).toBe(401);
    await stack.expectNothingEnqueued();
    for (const path of ['/healthz', '/openapi.json', '/docs/']) expect((await request(stack.app).get(path)).status).toBe(200);
  });

  it("a job belongs to its key's id: the name, or a hash-derived id for an unnamed key", async () => {
    stack = await createTestStack({ API_KEYS });
    const job = await submit(ALICE);
    expect((await stack.queue.getJob(job.id))?.data.owner).toBe('alice');
    const unnamed = await submit(UNNAMED);
    const unnamedOwner = (await stack.queue.getJob(unnamed.id))?.data.owner;
    expect(unnamedOwner).toBe(apiKeyId({ name: null, key: UNNAMED }));
    expect(unnamedOwner).toMatch(/^key-[0-9a-f]{12}$/);
    expect(unnamedOwner).not.toContain(UNNAMED.slice(8));
  });

  it("isolates tenants: another key gets 404 for a job (read, cancel, webhook log) and never sees it in its list", async () => {
    stack = await createTestStack({ API_KEYS });
    const alices = await submit(ALICE);
    const bobs = await submit(BOB);
    for (const [method, path] of [
      ['get', `/v1/jobs/${alices.id}`],
      ['post', `/v1/jobs/${alices.id}/cancel`],
      ['get', `/v1/jobs/${alices.id}/webhooks`],
    ] as const) {
      const res = await request(stack.app)[method](path).set('Authorization', bearer(BOB));
      expect(res.status, `${method} ${path} as bob`).toBe(404);
      expect(res.body.error.code).toBe('JOB_NOT_FOUND');
    }
    // Bob's cancel did nothing to Alice's job; Alice still reads it.
    const own = await request(stack.app).get(`/v1/jobs/${alices.id}`).set('Authorization', bearer(ALICE));
    expect(own.status).toBe(200);
    expect(own.body.status).toBe('queued');
    const aliceList = (await request(stack.app).get('/v1/jobs').set('Authorization', bearer(ALICE))).body as JobList;
    expect(aliceList.data.map((j) => j.id)).toEqual([alices.id]);
    const bobList = (await request(stack.app).get('/v1/jobs').set('Authorization', bearer(BOB))).body as JobList;
    expect(bobList.data.map((j) => j.id)).toEqual([bobs.id]);
  });
});

describe('admin guard (/admin/queues, /metrics)', () => {
  const adminConfig = { API_KEYS, ADMIN_API_KEY: ADMIN_KEY, ADMIN_USER, ADMIN_PASSWORD };

  it('/admin/queues is 401 with a Basic challenge without admin credentials (an API key is not enough)', async () => {
    stack = await createTestStack(adminConfig);
    for (const authorization of [undefined, bearer(ALICE), bearer('wrong_0123456789abcdef')]) {
      const req = request(stack.app).get('/admin/queues');
      const res = await (authorization ? req.set('Authorization', authorization) : req);
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toMatch(/^Basic realm="digitq admin"/);
    }
    expect((await request(stack.app).get('/admin/queues').auth(ADMIN_USER, 'wrong password!')).status).toBe(401);
    expect((await request(stack.app).get('/admin/queues/api/queues')).status).toBe(401);
  });

  it('/admin/queues is 200 with the admin key as bearer token, and with basic auth; it shows the three queues', async () => {
    stack = await createTestStack(adminConfig);
    const withKey = await request(stack.app).get('/admin/queues').set('Authorization', bearer(ADMIN_KEY));
    expect(withKey.status).toBe(200);
    expect(withKey.headers['content-type']).toMatch(/^text\/html/);
    const withLogin = await request(stack.app).get('/admin/queues').auth(ADMIN_USER, ADMIN_PASSWORD);
    expect(withLogin.status).toBe(200);
    const api = await request(stack.app).get('/admin/queues/api/queues').auth(ADMIN_USER, ADMIN_PASSWORD);
    expect(api.status).toBe(200);
    const queues = (api.body as { queues: { name: string; readOnlyMode: boolean }[] }).queues;
    expect(queues.map((q) => q.name).sort()).toEqual(['inference', 'training', 'webhooks']);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
  });

  it('/metrics takes the same admin credentials', async () => {
    stack = await createTestStack(adminConfig);
    expect((await request(stack.app).get('/metrics')).status).toBe(401);
    expect((await request(stack.app).get('/metrics').set('Authorization', bearer(ALICE))).status).toBe(401);
    const ok = await request(stack.app).get('/metrics').set('Authorization', bearer(ADMIN_KEY));
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('digitq_queue_jobs');
  });

  it('is closed (403) when API keys are set but no admin credentials are', async () => {
    stack = await createTestStack({ API_KEYS });
    for (const path of ['/admin/queues', '/metrics']) {
      const res = await request(stack.app).get(path).set('Authorization', bearer(ALICE));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
  });

  it('is open without API keys and admin credentials (local development on loopback)', async () => {
    stack = await createTestStack();
    expect((await request(stack.app).get('/admin/queues')).status).toBe(200);
    expect((await request(stack.app).get('/metrics')).status).toBe(200);
  });

  it('BULL_BOARD_READ_ONLY=false lets the board act on jobs', async () => {
    stack = await createTestStack({ ...adminConfig, BULL_BOARD_READ_ONLY: false });
    const api = await request(stack.app).get('/admin/queues/api/queues').set('Authorization', bearer(ADMIN_KEY));
    expect((api.body as { queues: { readOnlyMode: boolean }[] }).queues.every((q) => !q.readOnlyMode)).toBe(true);
  });
});
