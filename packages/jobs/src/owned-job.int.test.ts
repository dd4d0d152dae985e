import { randomUUID } from 'node:crypto';
import { Queue, Worker, type JobState } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '@digitq/test-utils';
import { CancelRequests } from './cancel-requests.ts';
import { loadOwnedJob } from './owned-job.ts';

const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
const prefix = `test-owned-${randomUUID().slice(0, 8)}`;
const queue = new Queue('owned', { connection, prefix });
const cancelRequests = new CancelRequests(connection, prefix, 'owned', 60);

afterAll(async () => {
  await queue.obliterate({ force: true });
  await queue.close();
  await connection.quit();
});

async function completedJob(): Promise<string> {
  const job = await queue.add('classify', { owner: 'alice' });
  const worker = new Worker('owned', async () => ({ answer: 7 }), { connection: connection.duplicate(), prefix });
  await new Promise<void>((resolve) => worker.on('completed', (done) => done.id === job.id && resolve()));
  await worker.close();
  return job.id!;
}

describe('loadOwnedJob', () => {
  it('never pairs a finished state with a hash read before the job finished', async () => {
    const id = await completedJob();
    // The state read lands just before the job finished (it answers "active"); the hash read after it.
    let reads = 0;
    const racing = new Proxy(queue, {
      get(target, property, receiver) {
        if (property !== 'getJobState') return Reflect.get(target, property, receiver);
        return async (jobId: string): Promise<JobState | 'unknown'> => (reads++ === 0 ? 'active' : target.getJobState(jobId));
      },
    });
    const found = await loadOwnedJob(racing, cancelRequests, id, 'alice');
    expect(found?.state).toBe('completed');
    expect(found?.job.returnvalue).toEqual({ answer: 7 });
  });

  it('a job read while it finishes is either unfinished or finished with its result, never between', async () => {
    const worker = new Worker('owned', async () => ({ answer: 7 }), { connection: connection.duplicate(), prefix, concurrency: 4 });
    const ids = (await queue.addBulk(Array.from({ length: 200 }, () => ({ name: 'classify', data: { owner: 'alice' } })))).map((job) => job.id!);
    const torn: string[] = [];
    let finished = 0;
    while (finished < ids.length) {
      finished = 0;
      const reads = await Promise.all(ids.map((id) => loadOwnedJob(queue, cancelRequests, id, 'alice')));
      for (const found of reads) {
        if (found?.state !== 'completed') continue;
        finished++;
        if (found.job.returnvalue === null || found.job.returnvalue === undefined) torn.push(found.job.id!);
      }
    }
    await worker.close();
    expect(torn).toEqual([]);
  });

  it('hides another owner\'s job and an unknown id', async () => {
    const id = await completedJob();
    expect(await loadOwnedJob(queue, cancelRequests, id, 'bob')).toBeNull();
    expect(await loadOwnedJob(queue, cancelRequests, 'no-such-job', 'alice')).toBeNull();
    expect((await loadOwnedJob(queue, cancelRequests, id, null))?.state).toBe('completed');
  });
});
