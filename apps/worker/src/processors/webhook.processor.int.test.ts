/**
 * Webhook delivery against real Redis, a real BullMQ worker and a real HTTP
 * receiver on 127.0.0.1: signatures, retries, give-up, 410, Retry-After,
 * timeouts, redirects, the URL guard at delivery time, de-duplication.
 */
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { webhookPayloadSchema, type WebhookAttempt } from '@digitq/contracts';
import { WebhookUrlGuard, postWebhook } from '@digitq/webhooks';
import { answer, startTestReceiver, type ReceivedRequest, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { createWebhookTestStack, waitUntil, type WebhookTestStack } from '../../test/webhook-stack.ts';

let stack: WebhookTestStack;
let receiver: TestReceiver | undefined;
beforeEach(async () => {
  stack = await createWebhookTestStack();
});
afterEach(async () => {
  await stack.close();
  await receiver?.close();
  receiver = undefined;
});

/** Headers as standardwebhooks' verify() takes them. */
function headersOf(request: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
}

async function attemptsOf(jobId: string, count: number, timeoutMs?: number): Promise<WebhookAttempt[]> {
  return waitUntil(() => stack.deliveries.list(jobId), (log) => log.length >= count, timeoutMs);
}

async function finishedState(deliveryId: string): Promise<string> {
  return waitUntil(
    async () => (await stack.queue.getJob(deliveryId))?.getState() ?? 'missing',
    (state) => state === 'completed' || state === 'failed',
  );
}

describe('webhook delivery', () => {
  it('signs per Standard Webhooks with every rotated secret, in the spec envelope', async () => {
    receiver = await startTestReceiver(answer.status(204));
    await stack.startDeliveryWorker();
    const at = new Date('2026-01-02T03:04:05.000Z');
    const id = await stack.enqueue({ url: receiver.url(), jobId: 'job-1', data: { id: 'job-1', status: 'succeeded' }, at });
    expect(id).toBe('job-1.job.completed');
    const [request] = await receiver.waitForRequests(1);

    expect(request!.method).toBe('POST');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toBe(id);
    expect(Number(request!.headers['webhook-timestamp'])).toBeCloseTo(Date.now() / 1000, -1);
    expect(String(request!.headers['webhook-signature']).split(' ')).toHaveLength(2);
    // A receiver that knows only the old secret, and one that knows only the new one, both accept it.
    for (const secret of stack.secrets) {
      expect(new Webhook(secret).verify(request!.body, headersOf(request!))).toEqual({
        type: 'job.completed',
        timestamp: at.toISOString(),
        data: { id: 'job-1', status: 'succeeded' },
      });
    }
    expect(() => new Webhook(stack.secrets[0]!).verify(request!.body.replace('succeeded', 'failed'), headersOf(request!))).toThrow();
    webhookPayloadSchema.parse(JSON.parse(request!.body));

    expect(await finishedState(id!)).toBe('completed');
    const [attempt] = await attemptsOf('job-1', 1);
    expect(attempt).toMatchObject({ event: 'job.completed', webhook_id: id, attempt: 1, status_code: 204, error: null, outcome: 'delivered' });
    expect(stack.logs.find((l) => l.msg === 'webhook delivered')).toMatchObject({ webhook: id, attempt: 1 });
  });

  it('retries a receiver that fails twice, then delivers once, with one webhook-id on all three attempts', async () => {
    receiver = await startTestReceiver((_req, res, index) => res.writeHead(index < 2 ? 500 : 200).end('ok'));
    await stack.startDeliveryWorker();
    const id = await stack.enqueue({ url: receiver.url(), jobId: 'job-2' });
    const requests = await receiver.waitForRequests(3);
    expect(await finishedState(id!)).toBe('completed');

    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
    for (const request of requests) expect(() => new Webhook(stack.secrets[1]!).verify(request.body, headersOf(request))).not.toThrow();
    // The schedule's 100 ms and 200 ms gaps, ±10% jitter.
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(85);
    expect(requests[2]!.at - requests[1]!.at).toBeGreaterThanOrEqual(175);

    const log = await attemptsOf('job-2', 3);
    expect(log.map((a) => [a.attempt, a.status_code, a.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 500, 'retrying'],
      [3, 200, 'delivered'],
    ]);
    expect(log[0]!.error).toBe('receiver answered 500');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests).toHaveLength(3);
  });

  it('gives up after the whole schedule on a receiver that is down: logged, in the log as failed, in the failed set', async () => {
    // A port that was just free: nothing listens there.
    const gone = await startTestReceiver();
    const url = gone.url();
    await gone.close();
    await stack.startDeliveryWorker();
    const id = await stack.enqueue({ url, jobId: 'job-3' });

    expect(await finishedState(id!)).toBe('failed');
    const log = await attemptsOf('job-3', 3);
    expect(log.map((a) => a.outcome)).toEqual(['retrying', 'retrying', 'failed']);
    expect(log.every((a) => a.status_code === null && /ECONNREFUSED/.test(a.error ?? ''))).toBe(true);

    const failed = await stack.queue.getFailed();
    expect(failed.map((job) => job.id)).toEqual([id]);
    expect(failed[0]!.attemptsMade).toBe(3);
    expect(failed[0]!.failedReason).toMatch(/^WEBHOOK_FAILED: .*ECONNREFUSED/);
    const line = stack.logs.find((l) => l.msg.startsWith('webhook delivery failed'));
    expect(line).toMatchObject({ level: 50, webhook: id, attempt: 3, attempts: 3 });
  });

  it('stops at once on 410 Gone', async () => {
    receiver = await startTestReceiver(answer.status(410));
    await stack.startDeliveryWorker();
    const id = await stack.enqueue({ url: receiver.url(), jobId: 'job-4' });

    expect(await finishedState(id!)).toBe('failed');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(receiver.requests).toHaveLength(1);
    expect(await stack.deliveries.list('job-4')).toEqual([expect.objectContaining({ attempt: 1, status_code: 410, outcome: 'gone' })]);
    const job = await stack.queue.getJob(id!);
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toBe('WEBHOOK_GONE: receiver answered 410 Gone');
    expect(stack.logs.find((l) => /410 Gone/.test(l.msg))).toMatchObject({ level: 40, webhook: id });
  });

  it("waits as long as the receiver's Retry-After asks (seconds form)", async () => {
    receiver = await startTestReceiver((_req, res, index) => (index === 0 ? res.writeHead(503, { 'Retry-After': '1' }).end() : res.writeHead(204).end()));
    await stack.startDeliveryWorker();
    const id = await stack.enqueue({ url: receiver.url() });
    const requests = await receiver.waitForRequests(2);
    expect(await finishedState(id!)).toBe('completed');
    // Not the schedule's 100 ms: the 1 s asked for.
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('cuts a Retry-After (HTTP-date form) to WEBHOOK_RETRY_AFTER_MAX_MS', async () => {
    const inAnHour = new Date(Date.now() + 3600_000).toUTCString();
    receiver = await startTestReceiver((_req, res, index) => (index === 0 ? res.writeHead(429, { 'Retry-After': inAnHour }).end() : res.writeHead(204).end()));
    await stack.startDeliveryWorker({ retryAfterMaxMs: 500 });
    const id = await stack.enqueue({ url: receiver.url() });
    const requests = await receiver.waitForRequests(2);
    expect(await finishedState(id!)).toBe('completed');
    const gap = requests[1]!.at - requests[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(450);
    expect(gap).toBeLessThan(3000);
  });

  it('counts a receiver that does not answer within the timeout as a failed attempt', async () => {
    receiver = await startTestReceiver((_req, res, index) => {
      if (index > 0) res.writeHead(204).end();
      // The first request is never answered.
    });
    await stack.startDeliveryWorker({ timeoutMs: 300 });
    const id = await stack.enqueue({ url: receiver.url(), jobId: 'job-6' });
    expect(await finishedState(id!)).toBe('completed');
    const log = await attemptsOf('job-6', 2);
    expect(log[0]).toMatchObject({ attempt: 1, status_code: null, error: 'no response within 300 ms', outcome: 'retrying' });
    expect(log[0]!.duration_ms).toBeGreaterThanOrEqual(290);
    expect(log[1]).toMatchObject({ attempt: 2, status_code: 204, outcome: 'delivered' });
  });

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    receiver = await startTestReceiver((req, res) => (req.path === '/hook' ? res.writeHead(302, { Location: '/elsewhere' }).end() : res.writeHead(204).end()));
    await stack.startDeliveryWorker();
    const id = await stack.enqueue({ url: receiver.url('/hook'), jobId: 'job-7' });
    expect(await finishedState(id!)).toBe('failed');
    expect(receiver.requests.map((r) => r.path)).toEqual(['/hook', '/hook', '/hook']);
    const log = await attemptsOf('job-7', 3);
    expect(log.map((a) => [a.status_code, a.outcome])).toEqual([
      [302, 'retrying'],
      [302, 'retrying'],
      [302, 'failed'],
    ]);
    expect(log[0]!.error).toBe('redirect (302) to /elsewhere not followed');
  });

  it('checks the URL again at delivery: a private address fails at once, without a request or a retry', async () => {
    receiver = await startTestReceiver(answer.status(204));
    await stack.startDeliveryWorker({ guard: new WebhookUrlGuard({ allowPrivate: false }) });
    const id = await stack.enqueue({ url: receiver.url(), jobId: 'job-8' });
    expect(await finishedState(id!)).toBe('failed');
    expect(receiver.requests).toHaveLength(0);
    const [attempt] = await stack.deliveries.list('job-8');
    expect(attempt).toMatchObject({ attempt: 1, status_code: null, outcome: 'failed' });
    expect(attempt!.error).toMatch(/127\.0\.0\.1 is not a public address \(loopback\)/);
    expect((await stack.queue.getJob(id!))?.failedReason).toMatch(/^WEBHOOK_URL_REFUSED: /);
  });

  it('connects to the vetted address, whatever the host name resolves to now', async () => {
    receiver = await startTestReceiver(answer.status(202));
    const port = new URL(receiver.origin).port;
    // This host name has no DNS record at all; the request still lands on the address the guard vetted.
    const url = new URL(`http://receiver.invalid:${port}/pinned?x=1`);
    const response = await postWebhook({ url, address: { address: '127.0.0.1', family: 4 } }, { 'content-type': 'application/json' }, '{}', 2000);
    expect(response.statusCode).toBe(202);
    expect(receiver.requests[0]).toMatchObject({ path: '/pinned?x=1', body: '{}' });
    expect(receiver.requests[0]!.headers.host).toBe(`receiver.invalid:${port}`);
  });
});

describe('enqueueWebhookEvent', () => {
  it('enqueues only the events the webhook asked for', async () => {
    const webhook = { url: 'http://127.0.0.1:9/h', events: ['job.completed' as const] };
    expect(await stack.enqueue({ url: webhook.url, webhook, event: 'job.started', jobId: 'j' })).toBeNull();
    expect(await stack.enqueue({ url: webhook.url, webhook: null, event: 'job.completed', jobId: 'j' })).toBeNull();
    expect(await stack.enqueue({ url: webhook.url, webhook, event: 'job.completed', jobId: 'j' })).toBe('j.job.completed');
    expect((await stack.queue.getJobs()).map((job) => job.id)).toEqual(['j.job.completed']);
  });

  it('delivers an event enqueued twice once', async () => {
    receiver = await startTestReceiver(answer.status(204));
    const first = await stack.enqueue({ url: receiver.url(), jobId: 'twice' });
    const second = await stack.enqueue({ url: receiver.url(), jobId: 'twice' });
    expect(second).toBe(first);
    await stack.startDeliveryWorker();
    expect(await finishedState(first!)).toBe('completed');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.requests).toHaveLength(1);
  });

  it('sends training.progress at most once per 500 ms per job, each with its own id', async () => {
    const webhook = { url: 'http://127.0.0.1:9/h', events: ['training.progress' as const] };
    const ids: (string | null)[] = [];
    for (let step = 1; step <= 5; step++) ids.push(await stack.enqueue({ url: webhook.url, webhook, event: 'training.progress', jobId: 't', sequence: step }));
    expect(ids).toEqual(['t.training.progress.1', null, null, null, null]);
    // Another job has its own budget.
    expect(await stack.enqueue({ url: webhook.url, webhook, event: 'training.progress', jobId: 'u', sequence: 1 })).toBe('u.training.progress.1');
    await new Promise((resolve) => setTimeout(resolve, 550));
    expect(await stack.enqueue({ url: webhook.url, webhook, event: 'training.progress', jobId: 't', sequence: 9 })).toBe('t.training.progress.9');
  });
});
