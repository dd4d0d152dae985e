/**
 * The consumer of ceilings A and C: a BullMQ Worker whose processor does
 * nothing, in its own process as digitq's worker is. It counts the jobs it
 * finished and tells the parent when asked (any message), so completions
 * are counted exactly whatever the queue's retention trims.
 *
 *   node --import tsx bench/ceilings/empty-worker.ts --redis-url U --prefix P --queue Q --concurrency N
 */
import { Worker } from 'bullmq';
import { answerRequests, requiredArgs, send, stopWithParent } from './child.ts';

const args = requiredArgs(['redis-url', 'prefix', 'queue', 'concurrency']);
let completed = 0;
const worker = new Worker(args.queue, async () => undefined, {
  connection: { url: args['redis-url'], maxRetriesPerRequest: null },
  prefix: args.prefix,
  concurrency: Number(args.concurrency),
});
worker.on('completed', () => completed++);
worker.on('error', (error) => process.stderr.write(`empty worker: ${error.message}\n`));
stopWithParent(() => worker.close());
await worker.waitUntilReady();
answerRequests(() => ({ completed }));
send({ ready: true });
