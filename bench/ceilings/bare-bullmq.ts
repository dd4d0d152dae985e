/**
 * Ceiling A: BullMQ alone. A producer (here, in the benchmark's process)
 * keeps PRODUCER_IN_FLIGHT adds going for the run's seconds while the empty
 * worker (bench/ceilings/empty-worker.ts, its own process) takes them; jobs
 * carry a payload the size of one digitq image and digitq's default job
 * options. Measures jobs added and jobs completed per second.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ENCODED_IMAGE_LENGTH } from '@digitq/contracts';
import { defaultJobOptions } from '@digitq/jobs';

/** As many adds in flight as the HTTP runs have connections. */
export const PRODUCER_IN_FLIGHT = 64;
const PAYLOAD = { images: ['A'.repeat(ENCODED_IMAGE_LENGTH)] };

export interface BareBullmqResult {
  seconds: number;
  added_per_s: number;
  completed_per_s: number;
}

export async function runBareBullmq(options: {
  connection: Redis;
  prefix: string;
  queue: string;
  retention: { resultTtlS: number; maxCount: number };
  seconds: number;
  /** Jobs the consumer has completed so far. */
  completed: () => Promise<number>;
}): Promise<BareBullmqResult> {
  const queue = new Queue(options.queue, { connection: options.connection, prefix: options.prefix, defaultJobOptions: defaultJobOptions(options.retention) });
  try {
    await queue.waitUntilReady();
    const completedBefore = await options.completed();
    const start = performance.now();
    const deadline = start + options.seconds * 1000;
    let added = 0;
    const producer = async () => {
      while (performance.now() < deadline) {
        await queue.add('classify', PAYLOAD);
        added++;
      }
    };
    await Promise.all(Array.from({ length: PRODUCER_IN_FLIGHT }, producer));
    const seconds = (performance.now() - start) / 1000;
    const completed = (await options.completed()) - completedBefore;
    return { seconds, added_per_s: added / seconds, completed_per_s: completed / seconds };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
  }
}
