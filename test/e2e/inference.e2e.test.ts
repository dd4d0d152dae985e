/**
 * The job system end to end: real API process → real Redis → real worker
 * processes running the committed model, driven over HTTP with images drawn
 * in the test.
 */
import { describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { pollJob, useSystem } from './system.ts';

type Json = Record<string, any>;

const DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

function form(files: { name: string; bytes: Buffer; type?: string }[], field = 'image', extra: Record<string, string> = {}): FormData {
  const body = new FormData();
  for (const f of files) body.append(field, new Blob([new Uint8Array(f.bytes)], { type: f.type ?? 'image/png' }), f.name);
  for (const [k, v] of Object.entries(extra)) body.append(k, v);
  return body;
}

async function submit(baseUrl: string, body: FormData | string, headers: Record<string, string> = {}): Promise<{ status: number; job: Json; headers: Headers }> {
  const res = await fetch(`${baseUrl}/v1/jobs`, {
    method: 'POST',
    body,
    headers: typeof body === 'string' ? { 'content-type': 'application/json', ...headers } : headers,
  });
  return { status: res.status, job: (await res.json()) as Json, headers: res.headers };
}

const digitPng = (digit: number, options: Partial<Parameters<typeof renderDigitImage>[0]> = {}) =>
  renderDigitImage({ digit, width: 400, height: 320, format: 'png', ...options });

describe('inference through the queue', () => {
  const system = useSystem({ workers: 1 });

  it('submit → poll → succeeded with the right digit for each rendered digit 0-9', async () => {
    const submitted = await Promise.all(
      DIGITS.map(async (digit) => {
        const { status, job, headers } = await submit(system.baseUrl, form([{ name: `${digit}.png`, bytes: await digitPng(digit, { offsetX: 60, offsetY: -30 }) }]));
        expect(status).toBe(202);
        expect(headers.get('location')).toBe(`/v1/jobs/${job.id}`);
        expect(job.status).toBe('queued');
        return job.id as string;
      }),
    );
    for (const [digit, id] of submitted.entries()) {
      const job = await pollJob(system.baseUrl, id, (j) => j.status === 'succeeded' || j.status === 'failed');
      expect(job.status, system.logs()).toBe('succeeded');
      expect(job.output.predictions[0].prediction).toBe(digit);
      expect(job.model).toEqual({ name: 'digitnet', version: expect.stringMatching(/^v\d+$/) });
      expect(Date.parse(job.completed_at as string)).toBeGreaterThanOrEqual(Date.parse(job.started_at as string));
    }
  });

  it('POST /predict answers synchronously through the queue', async () => {
    const body = form([{ name: 'three.jpg', bytes: await digitPng(3, { format: 'jpeg', photo: true }), type: 'image/jpeg' }], 'file');
    const res = await fetch(`${system.baseUrl}/predict`, { method: 'POST', body });
    const json = (await res.json()) as Json;
    expect(res.status, JSON.stringify(json)).toBe(200);
    expect(json.prediction).toBe(3);
    expect(json.probabilities).toHaveLength(10);
    expect(json.confidence).toBe(Math.max(...(json.probabilities as number[])));
    expect(json.job_id).toEqual(expect.any(String));
  });

  it('Prefer: wait holds the request until the job ends', async () => {
    const { status, job, headers } = await submit(system.baseUrl, form([{ name: '8.png', bytes: await digitPng(8) }]), { Prefer: 'wait=10' });
    expect(status).toBe(200);
    expect(headers.get('preference-applied')).toBe('wait=10');
    expect(job.status).toBe('succeeded');
    expect(job.output.predictions[0].prediction).toBe(8);
  });

  it('a batch upload classifies every image in one job, in order', async () => {
    const digits = [4, 1, 9];
    const files = await Promise.all(digits.map(async (d) => ({ name: `${d}.png`, bytes: await digitPng(d) })));
    const { job } = await submit(system.baseUrl, form(files), { Prefer: 'wait=20' });
    expect(job.input).toEqual({ count: 3 });
    expect(job.status).toBe('succeeded');
    expect(job.output.predictions.map((p: Json) => p.prediction)).toEqual(digits);
  });

  it('accepts JSON with base64 images', async () => {
    const images = [(await digitPng(2)).toString('base64'), `data:image/png;base64,${(await digitPng(5)).toString('base64')}`];
    const { status, job } = await submit(system.baseUrl, JSON.stringify({ images }), { Prefer: 'wait=20' });
    expect(status).toBe(200);
    expect(job.output.predictions.map((p: Json) => p.prediction)).toEqual([2, 5]);
  });

  it('bad input is answered at once with a JSON 4xx and nothing is enqueued', async () => {
    const before = await system.queue.getJobCounts();
    const cases: [FormData | string, number, string][] = [
      [form([]), 400, 'NO_IMAGE'],
      [form([{ name: 'note.png', bytes: Buffer.from('this is not an image') }]), 415, 'IMAGE_UNSUPPORTED_FORMAT'],
      [form([{ name: 'cut.png', bytes: (await digitPng(1)).subarray(0, 200) }]), 422, 'IMAGE_CORRUPT'],
      [form([{ name: 'blank.png', bytes: await digitPng(1, { blank: true }) }]), 422, 'IMAGE_BLANK'],
      [form([{ name: 'ok.png', bytes: await digitPng(1) }, { name: 'bad.png', bytes: Buffer.from('nope') }]), 415, 'IMAGE_UNSUPPORTED_FORMAT'],
      ['{"images": [', 400, 'VALIDATION_FAILED'],
      [JSON.stringify({ images: ['%%%not-base64%%%'] }), 400, 'VALIDATION_FAILED'],
      [form([{ name: '1.png', bytes: await digitPng(1) }], 'image', { priority: '99' }), 400, 'VALIDATION_FAILED'],
    ];
    for (const [body, status, code] of cases) {
      const res = await submit(system.baseUrl, body);
      expect({ status: res.status, code: res.job.error?.code }).toEqual({ status, code });
      expect(res.job.error.message).toEqual(expect.any(String));
    }
    expect(await system.queue.getJobCounts()).toEqual(before);
  });

  it('unknown jobs are 404 with a JSON error', async () => {
    const res = await fetch(`${system.baseUrl}/v1/jobs/does-not-exist`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as Json).error.code).toBe('JOB_NOT_FOUND');
  });

  it('records no stalled job under a burst of concurrent submissions at default lock settings', async () => {
    const stalled: string[] = [];
    const events = system.queueEvents();
    events.on('stalled', ({ jobId }) => stalled.push(jobId));
    await events.waitUntilReady();
    const png = await digitPng(7);
    const ids: string[] = [];
    for (let wave = 0; wave < 10; wave++) {
      const jobs = await Promise.all(Array.from({ length: 20 }, () => submit(system.baseUrl, form([{ name: '7.png', bytes: png }]))));
      ids.push(...jobs.map((j) => j.job.id as string));
    }
    for (const id of ids) {
      const job = await pollJob(system.baseUrl, id, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000);
      expect(job.status).toBe('succeeded');
    }
    expect(stalled).toEqual([]);
    expect(system.workers[0]!.lines.some((l) => /stalled/.test(l))).toBe(false);
  }, 120_000);
});

describe('micro-batching without idle waiting', () => {
  // A batch delay far longer than any answer here: only idle flushing can make these answers quick.
  const system = useSystem({ workers: 1, env: { BATCH_MAX_DELAY_MS: '30000', PREDICT_TIMEOUT_MS: '60000' } });

  it('runs a lone request at once instead of holding it for the batch delay', async () => {
    const started = Date.now();
    const res = await fetch(`${system.baseUrl}/predict`, { method: 'POST', body: form([{ name: '4.png', bytes: await digitPng(4) }], 'file') });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Json).prediction).toBe(4);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('still batches jobs that are queued together', async () => {
    const png = await digitPng(2);
    // Paused, the queue fills; resumed, the worker finds a backlog and fills its batches from it.
    await system.queue.pause();
    const jobs = await Promise.all(Array.from({ length: 40 }, () => submit(system.baseUrl, form([{ name: '2.png', bytes: png }]))));
    await system.queue.resume();
    const batchSizes: number[] = [];
    for (const { job } of jobs) {
      const done = await pollJob(system.baseUrl, job.id as string, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000);
      expect(done.status).toBe('succeeded');
      batchSizes.push((await system.queue.getJob(job.id as string))!.returnvalue.batch_images as number);
    }
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
  });
});

describe('cancellation', () => {
  // A long batching delay keeps jobs waiting in the worker, so a cancel can land while they are queued or processing.
  const system = useSystem({ workers: 0 });

  it('a queued job is canceled at once, and no worker runs it', async () => {
    const { job } = await submit(system.baseUrl, form([{ name: '6.png', bytes: await digitPng(6) }]));
    const res = await fetch(`${system.baseUrl}/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    const canceled = (await res.json()) as Json;
    expect(res.status).toBe(200);
    expect(canceled.status).toBe('canceled');
    expect(canceled.completed_at).toEqual(expect.any(String));
    // A worker that starts later fails it on pickup without running it.
    await system.startWorker();
    const after = await pollJob(system.baseUrl, job.id as string, (j) => j.status === 'canceled' && j.error !== null, 30_000);
    expect(after.status).toBe('canceled');
    expect(after.output).toBeNull();
    expect(after.error).toEqual({ code: 'JOB_CANCELED', message: expect.any(String) });
    const again = await fetch(`${system.baseUrl}/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(200);
  });

  it('a finished job cannot be canceled', async () => {
    const { job } = await submit(system.baseUrl, form([{ name: '6.png', bytes: await digitPng(6) }]), { Prefer: 'wait=20' });
    expect(job.status).toBe('succeeded');
    const res = await fetch(`${system.baseUrl}/v1/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as Json).error.code).toBe('JOB_FINISHED');
  });
});

describe('a worker killed mid-job', () => {
  const system = useSystem({
    workers: 0,
    // Short locks so the dead worker's job is noticed in seconds, not the default 30 s.
    env: { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' },
  });

  it('does not lose the job: another worker picks it up and it succeeds', async () => {
    // This worker holds each job in its batcher for 20 s, so it is surely mid-job when killed.
    const doomed = await system.startWorker({ BATCH_MAX_DELAY_MS: '20000', BATCH_MAX_SIZE: '1024', BATCH_IDLE_FLUSH: 'false' });
    const { job } = await submit(system.baseUrl, form([{ name: '9.png', bytes: await digitPng(9) }]));
    const active = await pollJob(system.baseUrl, job.id as string, (j) => j.status === 'processing', 30_000);
    expect(active.status).toBe('processing');
    doomed.child.kill('SIGKILL');
    expect((await doomed.exited).signal).toBe('SIGKILL');
    await system.startWorker();
    const done = await pollJob(system.baseUrl, job.id as string, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000);
    expect(done.status, system.logs()).toBe('succeeded');
    expect(done.output.predictions[0].prediction).toBe(9);
    const raw = await system.queue.getJob(job.id as string);
    expect(raw?.returnvalue.worker).not.toContain(`-${doomed.child.pid}-`);
    expect(raw?.stalledCounter).toBe(1);
  }, 120_000);
});
