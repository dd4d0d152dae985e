/** Webhooks at the API: the SSRF check at submit (422) and GET /v1/jobs/:id/webhooks. */
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, webhookAttemptListSchema, type WebhookAttempt } from '@digitq/contracts';
import { WebhookUrlGuard } from '@digitq/webhooks';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
/** The API as deployed: WEBHOOK_ALLOW_PRIVATE unset. */
let guarded: Express;
beforeEach(async () => {
  stack = await createTestStack();
  guarded = stack.appWith({ webhooks: { guard: new WebhookUrlGuard({ allowPrivate: false }), deliveries: stack.webhooks.deliveries } });
});
afterEach(async () => {
  await stack.close();
});

async function submitJson(app: Express, webhook: string): Promise<request.Response> {
  const image = (await fixtures.digit(4)).toString('base64');
  return request(app).post('/v1/jobs').send({ images: [image], webhook });
}

describe('POST /v1/jobs webhook URL check', () => {
  it.each([
    ['a private address', 'http://10.0.0.1/hook', /10\.0\.0\.1 is not a public address \(private \(RFC 1918\)\)/],
    ['loopback', 'http://127.0.0.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
    ['IPv6 loopback', 'http://[::1]/', /::1 is not a public address \(loopback\)/],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/', /cloud metadata/],
    ['an IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]:3000/', /IPv4-mapped form of 127\.0\.0\.1/],
    ['a name resolving to loopback', 'http://localhost:3000/hook', /localhost resolves to (127\.0\.0\.1|::1), which is not a public address/],
    ['a URL with credentials', 'https://user:pw@hooks.example.com/', /credentials/],
    ['a host that does not resolve', 'https://no-such-host.invalid/hook', /no-such-host\.invalid does not resolve/],
  ])('refuses %s with 422 WEBHOOK_URL_REFUSED and enqueues nothing', async (_what, url, message) => {
    const res = await submitJson(guarded, url);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('WEBHOOK_URL_REFUSED');
    expect(res.body.error.message).toMatch(message);
    await stack.expectNothingEnqueued();
  });

  it('checks multipart submissions too', async () => {
    const res = await request(guarded).post('/v1/jobs').attach('image', await fixtures.digit(2), 'two.png').field('webhook', 'http://192.168.1.20/hook');
    expect(res.status).toBe(422);
    expect(res.body.error.message).toMatch(/192\.168\.1\.20 is not a public address/);
    await stack.expectNothingEnqueued();
  });

  it('accepts private receivers when WEBHOOK_ALLOW_PRIVATE is set', async () => {
    const res = await submitJson(stack.app, 'http://127.0.0.1:9999/hook');
    expect(res.status).toBe(202);
  });
});

describe('GET /v1/jobs/:id/webhooks', () => {
  const attempt = (n: number, outcome: WebhookAttempt['outcome'], status: number | null): WebhookAttempt => ({
    event: 'job.completed',
    webhook_id: 'x.job.completed',
    attempt: n,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    status_code: status,
    duration_ms: 12,
    error: status === 200 ? null : 'receiver answered 500',
    outcome,
  });

  it("lists the job's delivery attempts, oldest first", async () => {
    const submitted = await submitJson(stack.app, 'http://127.0.0.1:9999/hook');
    const id = submitted.body.id as string;
    const empty = await request(stack.app).get(`/v1/jobs/${id}/webhooks`);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ data: [] });

    await stack.webhooks.deliveries.append(id, attempt(1, 'retrying', 500));
    await stack.webhooks.deliveries.append(id, attempt(2, 'delivered', 200));
    const res = await request(stack.app).get(`/v1/jobs/${id}/webhooks`);
    expect(res.status).toBe(200);
    expect(webhookAttemptListSchema.parse(res.body).data).toEqual([attempt(1, 'retrying', 500), attempt(2, 'delivered', 200)]);
  });

  it("answers 404 for an unknown job and for another owner's job", async () => {
    const unknown = await request(stack.app).get('/v1/jobs/no-such-job/webhooks');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('JOB_NOT_FOUND');

    const theirs = await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'someone-else', webhook: null });
    await stack.webhooks.deliveries.append(theirs.id, attempt(1, 'delivered', 200));
    const res = await request(stack.app).get(`/v1/jobs/${theirs.id}/webhooks`);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('JOB_NOT_FOUND');
  });
});
