/**
 * The SSRF guard at submit, over HTTP: webhook URLs that reach a non-public address through an IPv6 form
 * carrying an IPv4 address, or through a non-canonical IPv4 spelling, are answered 422 WEBHOOK_URL_REFUSED on
 * POST /v1/jobs and POST /v1/trainings, and nothing is enqueued. Only IP literals are used and the guard's
 * lookup is one that fails the test if called, so nothing is resolved and nothing connects anywhere.
 */
import type { Express } from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookUrlGuard } from '@digitq/webhooks';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
/** The API as deployed (WEBHOOK_ALLOW_PRIVATE unset), with a lookup that records any call. */
let guarded: Express;
let lookups: string[];
beforeEach(async () => {
  stack = await createTestStack();
  lookups = [];
  const guard = new WebhookUrlGuard({
    allowPrivate: false,
    lookup: async (hostname) => {
      lookups.push(hostname);
      throw new Error(`no lookup expected, asked for ${hostname}`);
    },
  });
  guarded = stack.appWith({ webhooks: { guard, deliveries: stack.webhooks.deliveries } });
});
afterEach(async () => {
  expect(lookups).toEqual([]);
  await stack.close();
});

const REFUSED_URLS: [string, RegExp][] = [
  // The reported ones: IPv4-translated (::ffff:0:0:0/96, RFC 2765).
  ['http://[::ffff:0:7f00:1]/', /IPv4-translated form of 127\.0\.0\.1: loopback/],
  ['http://[::ffff:0:a9fe:a9fe]/', /IPv4-translated form of 169\.254\.169\.254: cloud metadata/],
  ['http://[::ffff:0:8.8.8.8]/', /IPv4-translated form of 8\.8\.8\.8: obsolete SIIT form/],
  // IPv4-mapped.
  ['http://[::ffff:10.0.0.1]/', /IPv4-mapped form of 10\.0\.0\.1: private/],
  ['http://[0:0:0:0:0:ffff:a9fe:a9fe]/', /IPv4-mapped form of 169\.254\.169\.254: cloud metadata/],
  // IPv4-compatible (deprecated).
  ['http://[::127.0.0.1]:8080/', /IPv4-compatible form of 127\.0\.0\.1: loopback/],
  // NAT64, well-known prefix and local-use.
  ['http://[64:ff9b::a9fe:a9fe]/latest/meta-data/', /NAT64 form of 169\.254\.169\.254: cloud metadata/],
  ['http://[64:ff9b::192.168.0.1]/', /NAT64 form of 192\.168\.0\.1: private/],
  ['http://[64:ff9b:1:7f00:0:100::]/', /reserved \(local-use NAT64, RFC 8215\)/],
  // 6to4, Teredo, ISATAP.
  ['http://[2002:7f00:1::1]/', /6to4 form of 127\.0\.0\.1: loopback/],
  ['http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', /Teredo form of client 127\.0\.0\.1: loopback/],
  ['http://[2001:4860:1:2:0:5efe:a9fe:a9fe]/', /ISATAP form of 169\.254\.169\.254: cloud metadata/],
  // Other IPv6 special-purpose ranges.
  ['http://[fd00:ec2::254]/', /cloud metadata/],
  ['http://[fe80::1]/', /link-local/],
  ['http://[100::1]/', /discard-only/],
  // IPv4 spelled in decimal, octal, hex and short forms; the URL parser makes them dotted.
  ['http://2130706433/', /127\.0\.0\.1 is not a public address \(loopback\)/],
  ['http://0177.0.0.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
  ['http://0x7f.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
  ['http://127.1/', /127\.0\.0\.1 is not a public address \(loopback\)/],
  ['http://0xa9fea9fe/', /169\.254\.169\.254 is not a public address \(cloud metadata\)/],
  ['http://192.31.196.1/', /AS112/],
];

function expectRefused(res: request.Response, message: RegExp): void {
  expect(res.status).toBe(422);
  expect(res.body.error.code).toBe('WEBHOOK_URL_REFUSED');
  expect(res.body.error.message).toMatch(message);
}

async function expectNoTrainingEnqueued(): Promise<void> {
  const counts = await stack.queues[1]!.getJobCounts();
  expect(Object.values(counts).reduce((sum, n) => sum + n, 0)).toBe(0);
}

describe('POST /v1/jobs refuses webhook URLs that reach a non-public address', () => {
  it.each(REFUSED_URLS)('refuses %s (JSON body)', async (url, message) => {
    const image = (await fixtures.digit(4)).toString('base64');
    expectRefused(await request(guarded).post('/v1/jobs').send({ images: [image], webhook: url }), message);
    await stack.expectNothingEnqueued();
  });

  it('refuses them in multipart submissions too', async () => {
    const res = await request(guarded).post('/v1/jobs').attach('image', await fixtures.digit(2), 'two.png').field('webhook', 'http://[::ffff:0:7f00:1]/hook');
    expectRefused(res, /IPv4-translated form of 127\.0\.0\.1: loopback/);
    await stack.expectNothingEnqueued();
  });

  it('answers 400 for a zone id in the host: the URL parser refuses it before the guard sees it', async () => {
    const image = (await fixtures.digit(4)).toString('base64');
    const res = await request(guarded).post('/v1/jobs').send({ images: [image], webhook: 'http://[fe80::1%25eth0]/' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.message).toMatch(/webhook: must be an http or https URL/);
    await stack.expectNothingEnqueued();
  });

  it('accepts the same URL when WEBHOOK_ALLOW_PRIVATE is set, so the refusal above comes from the guard', async () => {
    const image = (await fixtures.digit(4)).toString('base64');
    const res = await request(stack.app).post('/v1/jobs').send({ images: [image], webhook: 'http://[::ffff:0:7f00:1]:9/hook' });
    expect(res.status).toBe(202);
  });
});

describe('POST /v1/trainings refuses webhook URLs that reach a non-public address', () => {
  it.each(REFUSED_URLS)('refuses %s', async (url, message) => {
    expectRefused(await request(guarded).post('/v1/trainings').send({ epochs: 1, webhook: url }), message);
    await expectNoTrainingEnqueued();
  });

  it('accepts the same URL when WEBHOOK_ALLOW_PRIVATE is set', async () => {
    const res = await request(stack.app).post('/v1/trainings').send({ epochs: 1, webhook: 'http://[::ffff:0:7f00:1]:9/hook' });
    expect(res.status).toBe(202);
    expect(await stack.queues[1]!.count()).toBe(1);
  });
});
