/**
 * How the queue orders and switches work under load, through the real API
 * and workers: higher-priority jobs run first from a full queue, and a model
 * version activated while many clients submit answers every job, each from
 * one version.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { MODELS_DIR, pollJob, sleep, useSystem, type JobBody } from './system.ts';

async function submit(baseUrl: string, png: Buffer, fields: Record<string, string> = {}): Promise<JobBody> {
  const body = new FormData();
  body.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  const res = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body });
  expect(res.status).toBe(202);
  return (await res.json()) as JobBody;
}

describe('priority under load', () => {
  // No worker at first, so the queue fills; then one worker taking four jobs at a time.
  const system = useSystem({ workers: 0 });

  it('from a full queue, every priority-10 job starts before any priority-1 job', async () => {
    const png = await renderDigitImage({ digit: 6, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });
    // The low-priority jobs are submitted first: arrival order alone would run them first.
    const low = await Promise.all(Array.from({ length: 40 }, () => submit(system.baseUrl, png, { priority: '1' })));
    const high = await Promise.all(Array.from({ length: 12 }, () => submit(system.baseUrl, png, { priority: '10' })));
    await system.startWorker({ BATCH_MAX_SIZE: '4' }, ['--device', 'cpu', '--queues', 'inference', '--concurrency', '4']);
    const started = async (jobs: JobBody[]) =>
      Promise.all(
        jobs.map(async (job) => {
          const done = await pollJob(system.baseUrl, job.id, (j) => j.status === 'succeeded', 60_000);
          expect(done.status).toBe('succeeded');
          return Date.parse(done.started_at as string);
        }),
      );
    const highStarts = await started(high);
    const lowStarts = await started(low);
    expect(Math.max(...highStarts)).toBeLessThanOrEqual(Math.min(...lowStarts));
  }, 120_000);
});

describe('hot reload under concurrent load', () => {
  // Two versions of the committed model on this "machine": v1 active, v2 (the same weights, its own version) to activate.
  const modelsDir = mkdtempSync(join(tmpdir(), 'digitq-reload-'));
  cpSync(join(MODELS_DIR, 'digitnet', 'v1'), join(modelsDir, 'digitnet', 'v1'), { recursive: true });
  cpSync(join(MODELS_DIR, 'digitnet', 'v1'), join(modelsDir, 'digitnet', 'v2'), { recursive: true });
  const v2Metadata = join(modelsDir, 'digitnet', 'v2', 'metadata.json');
  writeFileSync(v2Metadata, JSON.stringify({ ...JSON.parse(readFileSync(v2Metadata, 'utf8')), version: 'v2' }));
  writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
  const system = useSystem({ workers: 2, env: { MODELS_DIR: modelsDir, MODEL_POLL_MS: '200' } });
  afterAll(() => rmSync(modelsDir, { recursive: true, force: true }));

  it('answers every job while eight clients submit across an activation, each job from one version, and then only from the new one', async () => {
    const png = await renderDigitImage({ digit: 3, format: 'png' });
    const jobs: { id: string }[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const body = new FormData();
        for (let i = 0; i < 3; i++) body.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), `${i}.png`);
        const res = await fetch(`${system.baseUrl}/v1/jobs`, { method: 'POST', body, headers: { Prefer: 'wait=30' } });
        expect(res.status).toBe(200);
        jobs.push({ id: ((await res.json()) as JobBody).id });
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await sleep(2000);
    // Taken before the request: a worker may see the new version before the answer arrives here.
    const activatedAt = Date.now();
    const activated = await fetch(`${system.baseUrl}/v1/models/digitnet/v2/activate`, { method: 'POST' });
    expect(activated.status).toBe(200);
    // When each worker swapped, by its own log line; then a while of load served by the new version only.
    const swaps = await Promise.all(system.workers.map((worker) => worker.waitForLine(/now serving the newly activated model version/, 30_000)));
    const swappedAt = Math.max(...swaps.map((line) => (JSON.parse(line) as { time: number }).time));
    await sleep(2000);
    stop = true;
    await Promise.all(clients);

    const versions = await Promise.all(
      jobs.map(async ({ id }) => {
        const job = (await (await fetch(`${system.baseUrl}/v1/jobs/${id}`)).json()) as JobBody;
        expect(job.status).toBe('succeeded');
        expect(job.output.predictions.map((p: { prediction: number }) => p.prediction)).toEqual([3, 3, 3]);
        // One forward pass, one version: the model a job reports is the one every prediction came from.
        const raw = await system.queue.getJob(id);
        expect(raw?.returnvalue.model).toEqual(job.model);
        return { version: job.model.version as string, startedAt: raw!.processedOn!, finishedAt: raw!.finishedOn! };
      }),
    );
    expect(new Set(versions.map((v) => v.version))).toEqual(new Set(['v1', 'v2']));
    // Nothing ran on v2 before it was activated...
    expect(versions.filter((v) => v.finishedAt < activatedAt).every((v) => v.version === 'v1')).toBe(true);
    // ...and once every worker has swapped, only v2 answers.
    const late = versions.filter((v) => v.startedAt > swappedAt);
    expect(late.length).toBeGreaterThan(10);
    expect(late.every((v) => v.version === 'v2')).toBe(true);
  }, 120_000);
});
