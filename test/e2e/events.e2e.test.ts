/**
 * Job event streams and deadlines end to end: the real API and workers
 * (production build) and Redis. A job's server-sent events from queued to
 * its end, resumed with Last-Event-ID after a dropped connection (also on a
 * second API process); a training's progress; owner-only streams; a deadline
 * that passes before any worker starts (aborted), and cancels and deadlines
 * that reach a job a worker holds for its micro-batch (canceled at once,
 * not when the batch delay ends).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort } from '@digitq/test-utils';
import { MODELS_DIR, sleep, startProcess, useSystem, type JobBody, type System } from './system.ts';

const ALICE_KEY = 'alice-key-0123456789abcdef0123456789';
const BOB_KEY = 'bob-key-0123456789abcdef0123456789ab';
const alice = { authorization: `Bearer ${ALICE_KEY}` };
const bob = { authorization: `Bearer ${BOB_KEY}` };
const KEYS = { API_KEYS: `alice:${ALICE_KEY},bob:${BOB_KEY}` };

/** A worker that holds jobs: batches of two, waiting up to 20 s for the second, never flushed early. */
const HOLDING_WORKER = { BATCH_MAX_DELAY_MS: '20000', BATCH_IDLE_FLUSH: 'false', BATCH_MAX_SIZE: '2' };

const temps: string[] = [];
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `digitq-events-${name}-`));
  temps.push(dir);
  return dir;
}

interface Sse {
  id?: string;
  event?: string;
  data: string;
}

/** An open event stream: its events as they come, heartbeats apart; `close` drops the connection. */
interface EventStream {
  status: number;
  headers: Headers;
  events: Sse[];
  comments: string[];
  /** Resolves when the server ended the stream. */
  ended: Promise<void>;
  next(count: number, timeoutMs?: number): Promise<Sse[]>;
  close(): void;
}

async function openStream(url: string, init: RequestInit): Promise<EventStream> {
  const abort = new AbortController();
  const res = await fetch(url, { ...init, headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) }, signal: abort.signal });
  const events: Sse[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const ended = (async () => {
    if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done: finished, value } = await reader.read();
        if (finished) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: Sse = { data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) event.id = line.slice(4);
            else if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) {
            event.data = data.join('\n');
            events.push(event);
          }
          waiters.forEach((w) => w());
        }
      }
    } catch {
      // Dropped on purpose (close).
    }
    waiters.forEach((w) => w());
  })();
  let done = false;
  void ended.then(() => (done = true));
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    ended,
    async next(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < count && !done && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return events.slice(0, count);
    },
    close: () => abort.abort(),
  };
}

const data = (event: Sse | undefined) => JSON.parse(event?.data ?? 'null') as JobBody;
const statuses = (events: Sse[]) => events.map((e) => `${e.event}:${data(e).status}`);
/** Stream ids are `<ms>-<seq>`: compared as such. */
const idKey = (id: string) => id.split('-').map(Number) as [number, number];
function increasing(ids: string[]): boolean {
  return ids.every((id, i) => {
    if (i === 0) return true;
    const [a, b] = idKey(ids[i - 1]!);
    const [c, d] = idKey(id);
    return c > a || (c === a && d > b);
  });
}

async function submit(system: System, headers: Record<string, string> = alice, body: object = {}): Promise<JobBody> {
  const image = (await renderDigitImage({ digit: 7, format: 'png' })).toString('base64');
  const res = await fetch(`${system.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ images: [image], ...body }),
  });
  const job = (await res.json()) as JobBody;
  expect(res.status, JSON.stringify(job)).toBe(202);
  return job;
}

/** The job once it finished (Prefer: wait), as its owner reads it. */
async function finished(system: System, id: string): Promise<JobBody> {
  return (await (await fetch(`${system.baseUrl}/v1/jobs/${id}`, { headers: { ...alice, prefer: 'wait=15' } })).json()) as JobBody;
}

const eventsUrl = (system: System, id: string, kind = 'jobs') => `${system.baseUrl}/v1/${kind}/${id}/events`;

describe('job event streams (a worker that answers at once)', () => {
  const trainerModels = tempDir('models');
  cpSync(join(MODELS_DIR, 'digitnet'), join(trainerModels, 'digitnet'), { recursive: true });
  const system = useSystem({ workers: 1, env: { ...KEYS, MODELS_DIR: trainerModels, TRAINING_RUNS_DIR: tempDir('runs') } });

  it('streams a job from queued to succeeded, ids increasing, then ends the stream', async () => {
    const job = await submit(system);
    const stream = await openStream(eventsUrl(system, job.id), { headers: alice });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.headers.get('cache-control')).toBe('no-cache');
    await stream.ended;
    expect(statuses(stream.events)).toEqual(['status:queued', 'status:processing', 'finished:succeeded']);
    expect(increasing(stream.events.map((e) => e.id!))).toBe(true);
    expect(data(stream.events.at(-1)).output.predictions[0].prediction).toBe(7);
    expect(data(stream.events.at(-1))).toEqual(await (await fetch(`${system.baseUrl}/v1/jobs/${job.id}`, { headers: alice })).json());
  });

  it('a finished job streams its recorded events and ends; resuming after the last id says nothing more', async () => {
    const job = await submit(system);
    expect((await finished(system, job.id)).status).toBe('succeeded');
    const first = await openStream(eventsUrl(system, job.id), { headers: alice });
    await first.ended;
    expect(first.events.at(-1)?.event).toBe('finished');
    const again = await openStream(eventsUrl(system, job.id), { headers: { ...alice, 'last-event-id': first.events.at(-2)!.id! } });
    await again.ended;
    expect(again.events).toEqual([first.events.at(-1)]);
  });

  it("is 404 for another key's job, as GET is", async () => {
    const job = await submit(system);
    const res = await fetch(eventsUrl(system, job.id), { headers: { ...bob, accept: 'text/event-stream' } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
  });

  it('POST /v1/jobs with Accept: text/event-stream answers with the new job\'s events', async () => {
    const image = (await renderDigitImage({ digit: 3, format: 'png' })).toString('base64');
    const stream = await openStream(`${system.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({ images: [image] }),
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('location')).toMatch(/^\/v1\/jobs\//);
    await stream.ended;
    expect(statuses(stream.events)).toEqual(['status:queued', 'status:processing', 'finished:succeeded']);
    expect(data(stream.events.at(-1)).output.predictions[0].prediction).toBe(3);
  });

  it("streams a training's progress until it ends", async () => {
    await system.startWorker({}, ['--device', 'cpu', '--queues', 'training']);
    const res = await fetch(`${system.baseUrl}/v1/trainings`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'mnist', architecture: 'tiny', epochs: 1, limit: 600, augment: 'none', validation_split: 0.1, model_name: 'digitnet' }),
    });
    const training = (await res.json()) as JobBody;
    expect(res.status, JSON.stringify(training)).toBe(202);
    const stream = await openStream(eventsUrl(system, training.id, 'trainings'), { headers: alice });
    await stream.ended;
    const kinds = stream.events.map((e) => e.event);
    expect(kinds[0]).toBe('status');
    expect(data(stream.events[0]).status).toBe('queued');
    expect(kinds).toContain('progress');
    expect(stream.events.at(-1)?.event).toBe('finished');
    expect(data(stream.events.at(-1)).status, system.logs()).toBe('succeeded');
    // Each progress event: the training's TrainingJobProgress (progress and per-epoch history) and its sequence.
    const progress = stream.events.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data) as { sequence: number; progress: { progress: { epoch: number } } });
    expect(progress.every((p) => typeof p.sequence === 'number' && p.progress.progress.epoch === 1), JSON.stringify(progress[0])).toBe(true);
    expect(increasing(stream.events.map((e) => e.id!))).toBe(true);
  }, 120_000);
});

describe('held jobs: deadlines, cancels and resumed streams', () => {
  // No worker at first: the first test's job must wait past its deadline in the queue.
  const system = useSystem({ workers: 0, env: KEYS });

  it('a deadline that passes before any worker starts the job ends it aborted, never run', async () => {
    const job = await submit(system, { ...alice, 'cancel-after': '300ms' });
    await sleep(600);
    await system.startWorker(HOLDING_WORKER);
    const stream = await openStream(eventsUrl(system, job.id), { headers: alice });
    await stream.ended;
    expect(statuses(stream.events)).toEqual(['status:queued', 'finished:aborted']);
    expect(data(stream.events.at(-1)).error.code).toBe('JOB_ABORTED');
    expect((await finished(system, job.id)).status).toBe('aborted');
  }, 60_000);

  it('a bad Cancel-After is 400', async () => {
    const res = await fetch(`${system.baseUrl}/v1/jobs`, { method: 'POST', headers: { ...alice, 'content-type': 'application/json', 'cancel-after': 'soon' }, body: '{"images":["aGVsbG8="]}' });
    expect(res.status).toBe(400);
  });

  it('a cancel reaches a job held for its batch within a second or two, not when the 20 s delay ends', async () => {
    const job = await submit(system);
    const stream = await openStream(eventsUrl(system, job.id), { headers: alice });
    expect(statuses(await stream.next(2))).toEqual(['status:queued', 'status:processing']);
    const started = Date.now();
    const cancel = await fetch(`${system.baseUrl}/v1/jobs/${job.id}/cancel`, { method: 'POST', headers: alice });
    expect(cancel.status).toBe(200);
    await stream.ended;
    const elapsed = Date.now() - started;
    expect(statuses(stream.events)).toEqual(['status:queued', 'status:processing', 'finished:canceled']);
    expect(data(stream.events.at(-1)).error.code).toBe('JOB_CANCELED');
    expect(elapsed, `canceled after ${elapsed} ms`).toBeLessThan(2000);
  }, 30_000);

  it('a deadline that passes while the job is held cancels it then', async () => {
    const job = await submit(system, { ...alice, 'cancel-after': '1500ms' });
    const stream = await openStream(eventsUrl(system, job.id), { headers: alice });
    await stream.ended;
    expect(statuses(stream.events)).toEqual(['status:queued', 'status:processing', 'finished:canceled']);
    const final = data(stream.events.at(-1));
    expect(final.error).toMatchObject({ code: 'JOB_CANCELED', message: expect.stringContaining('deadline') });
    const heldMs = Date.parse(final.completed_at) - Date.parse(final.created_at);
    expect(heldMs, `ended ${heldMs} ms after submit`).toBeGreaterThanOrEqual(1400);
    expect(heldMs).toBeLessThan(5000);
  }, 30_000);

  it('a stream resumed with Last-Event-ID after a dropped connection misses nothing, on another API process too', async () => {
    const job = await submit(system);
    const first = await openStream(eventsUrl(system, job.id), { headers: alice });
    const seen = await first.next(2);
    expect(statuses(seen)).toEqual(['status:queued', 'status:processing']);
    first.close();
    // While no one listens: a second job fills the batch of two, so the first one runs and finishes.
    const filler = await submit(system);
    expect((await finished(system, job.id)).status).toBe('succeeded');
    // A second API process (as behind a load balancer) resumes from Redis.
    const port = await freePort();
    const other = startProcess('api-2', 'api', [], system.env({ PORT: String(port) }));
    try {
      await other.waitForLine(/api listening/);
      const resumed = await openStream(`http://127.0.0.1:${port}/v1/jobs/${job.id}/events`, { headers: { ...alice, 'last-event-id': seen.at(-1)!.id! } });
      await resumed.ended;
      expect(statuses(resumed.events)).toEqual(['finished:succeeded']);
      expect(increasing([...seen, ...resumed.events].map((e) => e.id!))).toBe(true);
      expect(data(resumed.events[0]).output.predictions[0].prediction).toBe(7);
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }
    expect((await finished(system, filler.id)).status).toBe('succeeded');
  }, 60_000);
});
