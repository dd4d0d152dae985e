/**
 * Many workers and many API processes against one Redis, as on several
 * machines: BullMQ shares the work, and any API process serves any job.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort } from '@digitq/test-utils';
import { pollJob, startProcess, useSystem, type JobBody, type ProcessHandle } from './system.ts';

async function submit(baseUrl: string, png: Buffer, headers: Record<string, string> = {}): Promise<JobBody> {
  const body = new FormData();
  body.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
  const res = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body, headers });
  expect(res.status).toBe(202);
  return (await res.json()) as JobBody;
}

describe('three differently configured workers on one queue', () => {
  const system = useSystem({ workers: 0 }, async (s) => {
    // As three machines might run them: small and large batches, little and much concurrency.
    await s.startWorker({ BATCH_MAX_SIZE: '1' }, ['--device', 'cpu', '--queues', 'inference', '--concurrency', '1']);
    await s.startWorker({ BATCH_MAX_SIZE: '8' }, ['--device', 'cpu', '--queues', 'inference', '--concurrency', '8']);
    await s.startWorker({ BATCH_MAX_SIZE: '64', BATCH_MAX_DELAY_MS: '20' }, ['--device', 'cpu', '--queues', 'inference', '--concurrency', '64']);
  });

  it('each takes part, and every job is done exactly once', async () => {
    const png = await renderDigitImage({ digit: 8, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });
    // Queued while paused, so all three find a backlog when it resumes.
    await system.queue.pause();
    const jobs = await Promise.all(Array.from({ length: 150 }, () => submit(system.baseUrl, png)));
    await system.queue.resume();
    const workers = await Promise.all(
      jobs.map(async (job) => {
        const done = await pollJob(system.baseUrl, job.id, (j) => j.status === 'succeeded' || j.status === 'failed', 60_000);
        expect(done.status).toBe('succeeded');
        expect(done.output.predictions[0].prediction).toBe(8);
        return (await system.queue.getJob(job.id))!.returnvalue.worker as string;
      }),
    );
    const byWorker = new Map<string, number>();
    for (const worker of workers) byWorker.set(worker, (byWorker.get(worker) ?? 0) + 1);
    expect(byWorker.size, JSON.stringify([...byWorker])).toBe(3);
    expect(await system.queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'prioritized')).toEqual({
      completed: jobs.length,
      failed: 0,
      active: 0,
      waiting: 0,
      prioritized: 0,
    });
    // Done once: a job completed twice would have been taken from another worker's lock (stalled), which none was.
    const completed = await system.queue.getJobs(['completed'], 0, -1);
    expect(completed.every((job) => job.attemptsMade <= 1 && job.stalledCounter === 0)).toBe(true);
  }, 120_000);
});

describe('two API processes on different ports against one Redis', () => {
  // No worker at first, so the job is still there to cancel across processes.
  const system = useSystem({ workers: 0 });
  let other: ProcessHandle | null = null;
  let otherUrl = '';
  afterAll(async () => {
    if (other && other.child.exitCode === null) {
      other.child.kill('SIGTERM');
      await other.exited;
    }
  });

  it('a job submitted through one is read, waited on, streamed and canceled through the other', async () => {
    const port = await freePort();
    other = startProcess('api-2', 'api', [], system.env({ PORT: String(port) }));
    await other.waitForLine(/api listening/);
    otherUrl = `http://127.0.0.1:${port}`;
    const png = await renderDigitImage({ digit: 5, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });

    const toCancel = await submit(system.baseUrl, png);
    const canceled = await fetch(`${otherUrl}/v1/jobs/${toCancel.id}/cancel`, { method: 'POST' });
    expect(canceled.status).toBe(200);
    expect(((await canceled.json()) as JobBody).status).toBe('canceled');
    expect(((await (await fetch(`${system.baseUrl}/v1/jobs/${toCancel.id}`)).json()) as JobBody).status).toBe('canceled');

    const job = await submit(system.baseUrl, png);
    const read = (await (await fetch(`${otherUrl}/v1/jobs/${job.id}`)).json()) as JobBody;
    expect(read).toMatchObject({ id: job.id, status: 'queued' });
    // Waited on and streamed through the other process while a worker (started now) runs it.
    const waited = fetch(`${otherUrl}/v1/jobs/${job.id}`, { headers: { Prefer: 'wait=30' } }).then(async (res) => (await res.json()) as JobBody);
    const stream = fetch(`${otherUrl}/v1/jobs/${job.id}/events`).then((res) => res.text());
    await system.startWorker();
    expect(await waited).toMatchObject({ id: job.id, status: 'succeeded', output: { predictions: [{ prediction: 5 }] } });
    const events = await stream;
    expect(events).toMatch(/event: finished/);
    expect(events).toMatch(/"status":"succeeded"/);
  }, 120_000);
});
