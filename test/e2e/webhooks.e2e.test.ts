/**
 * Webhooks through the whole system: a job submitted over HTTP, run by a
 * real worker process, delivered by a real worker process to a real
 * receiver, verified with the standardwebhooks package.
 */
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { answer, startTestReceiver, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { pollJob, sleep, useSystem, type JobBody, type System } from './system.ts';

const SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

async function submitWithWebhook(system: System, url: string, events?: string): Promise<JobBody> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(await renderDigitImage({ digit: 5, format: 'png' }))], { type: 'image/png' }), '5.png');
  form.append('webhook', url);
  if (events) form.append('webhook_events_filter', events);
  const res = await fetch(`${system.baseUrl}/v1/jobs`, { method: 'POST', body: form });
  expect(res.status).toBe(202);
  return (await res.json()) as JobBody;
}

async function deliveryLog(system: System, jobId: string, until: (log: JobBody[]) => boolean): Promise<JobBody[]> {
  for (const deadline = Date.now() + 20_000; ; await sleep(100)) {
    const body = (await (await fetch(`${system.baseUrl}/v1/jobs/${jobId}/webhooks`)).json()) as { data: JobBody[] };
    if (until(body.data) || Date.now() > deadline) return body.data;
  }
}

describe('webhooks end to end', () => {
  const system = useSystem(
    { workers: 0, env: { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE_MS: '0,150,300' } },
    async (s) => void (await s.startWorker({}, ['--device', 'cpu', '--queues', 'inference,webhooks'])),
  );
  const receivers: TestReceiver[] = [];
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });

  const receiver = async (handler?: Parameters<typeof startTestReceiver>[0]) => {
    const r = await startTestReceiver(handler);
    receivers.push(r);
    return r;
  };

  it('delivers signed job.started and job.completed; the completed body is the job as GET shows it', async () => {
    const r = await receiver();
    const job = await submitWithWebhook(system, r.url(), 'job.started,job.completed');
    const requests = await r.waitForRequests(2);
    const verifier = new Webhook(SECRET);
    const events = requests.map((req) => verifier.verify(req.body, req.headers as Record<string, string>) as { type: string; data: JobBody });
    expect(events.map((e) => e.type).sort()).toEqual(['job.completed', 'job.started']);
    const completed = events.find((e) => e.type === 'job.completed')!;
    const final = await pollJob(system.baseUrl, job.id as string, (j) => j.status === 'succeeded');
    expect(completed.data).toEqual(final);
    expect(completed.data.output.predictions[0].prediction).toBe(5);
  });

  it('retries a receiver that fails twice, with the same webhook-id, and delivers once', async () => {
    const r = await receiver((_req, res, index) => res.writeHead(index < 2 ? 500 : 204).end());
    const job = await submitWithWebhook(system, r.url());
    const requests = await r.waitForRequests(3);
    expect(new Set(requests.map((q) => q.headers['webhook-id'])).size).toBe(1);
    const log = await deliveryLog(system, job.id as string, (l) => l.some((a) => a.outcome === 'delivered'));
    expect(log.map((a) => [a.attempt, a.status_code, a.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 500, 'retrying'],
      [3, 204, 'delivered'],
    ]);
    await sleep(500);
    expect(r.requests).toHaveLength(3);
  });

  it('a receiver down for the whole schedule ends in a visible failure; 410 stops at once', async () => {
    const down = await receiver(answer.status(503));
    const failing = await submitWithWebhook(system, down.url());
    const log = await deliveryLog(system, failing.id as string, (l) => l.some((a) => a.outcome === 'failed'));
    expect(log.map((a) => a.outcome)).toEqual(['retrying', 'retrying', 'failed']);

    const gone = await receiver(answer.status(410));
    const stopped = await submitWithWebhook(system, gone.url());
    const goneLog = await deliveryLog(system, stopped.id as string, (l) => l.length > 0);
    expect(goneLog.map((a) => a.outcome)).toEqual(['gone']);
    await sleep(800);
    expect(gone.requests).toHaveLength(1);
  });
});
