/**
 * The worker on its own at full load, and its memory over 100k predictions.
 *
 * Drain: jobs of IMAGES_PER_JOB images are put straight on digitq's
 * inference queue (in the job format of @digitq/contracts, as the API would,
 * but without the API's preprocessing competing for the cores) while the
 * queue is paused; then it is resumed and timed until none is left (asked of
 * Redis, not of the worker, which is left alone while it works). Repeated.
 *
 * Memory: the worker's RSS and tensor count are read at checkpoints, with
 * the images it has predicted so far (its own digitq_inference_batch_images
 * counter): after the first load run (warm), before the drain and after
 * each drain repeat. The load runs in between count towards the 100k, so the
 * drain only makes up the rest.
 */
import type { Queue } from 'bullmq';
import { JOB_NAMES, encodePixels, inferenceJobDataSchema, quantizePixels } from '@digitq/contracts';
import { loadConfig } from '@digitq/config';
import { defaultJobOptions } from '@digitq/jobs';
import { preprocessDigitImages } from '@digitq/imaging';
import type { Upload } from './images.ts';
import { rssBytesOf, waitUntil } from './processes.ts';
import { round } from './stats.ts';

/** Jobs per addBulk call (each job holds IMAGES_PER_JOB encoded images, ~33 kB). */
const ADD_CHUNK = 100;
/** Asking Redis how many jobs are left is cheap, and the worker is not disturbed by it. */
const POLL_MS = 50;
const UNFINISHED_STATES = ['wait', 'prioritized', 'delayed', 'active'] as const;
const DRAIN_TIMEOUT_MS = 15 * 60_000;
const MIB = 1024 * 1024;
/** RSS may grow this much from the first checkpoint to the last and still count as flat (heaps settle, caches fill). */
export const FLAT_RSS_GROWTH = 0.1;

export interface MemoryCheckpoint {
  /** Images the worker predicted since the first checkpoint. */
  predictions: number;
  worker_rss_mib: number | null;
  tf_tensors: number | null;
}

export interface DrainRepeat {
  jobs: number;
  seconds: number;
  images_per_s: number;
  jobs_per_s: number;
  failed_jobs: number;
}

export interface MemoryResult {
  checkpoints: MemoryCheckpoint[];
  rss_growth: number | null;
  tensors_exported: boolean;
  flat: boolean | null;
}

export interface DrainResult {
  jobs_per_repeat: number;
  images_per_job: number;
  repeats: DrainRepeat[];
  memory: MemoryResult;
}

/** Reads the worker's memory; `predicted()` is the images it has predicted in all (its own counter), or null if it exports none. */
export function memoryProbe(workerPid: number, predicted: () => Promise<number | null>, tensors: () => Promise<number | null>) {
  let base: number | null = null;
  return async (): Promise<MemoryCheckpoint & { total: number | null }> => {
    const total = await predicted();
    base ??= total;
    const rss = rssBytesOf(workerPid);
    return {
      predictions: total === null || base === null ? 0 : total - base,
      worker_rss_mib: rss === null ? null : round(rss / MIB),
      tf_tensors: await tensors(),
      total,
    };
  };
}

export function memoryVerdict(checkpoints: readonly MemoryCheckpoint[]): MemoryResult {
  const first = checkpoints[0];
  const last = checkpoints.at(-1);
  const rssGrowth = first?.worker_rss_mib && last?.worker_rss_mib ? round((last.worker_rss_mib - first.worker_rss_mib) / first.worker_rss_mib, 3) : null;
  const tensorsExported = checkpoints.length > 0 && checkpoints.every((c) => c.tf_tensors !== null);
  const flat = rssGrowth === null ? null : rssGrowth <= FLAT_RSS_GROWTH && (!tensorsExported || first!.tf_tensors === last!.tf_tensors);
  return { checkpoints: [...checkpoints], rss_growth: rssGrowth, tensors_exported: tensorsExported, flat };
}

/** The job payload the API would enqueue for these uploads. */
async function jobData(uploads: readonly Upload[]) {
  const results = await preprocessDigitImages(uploads.map((u) => u.bytes));
  const images = results.map((result, i) => {
    if (!result.ok) throw new Error(`image ${i} of the drain job: ${result.error.message}`);
    return encodePixels(quantizePixels(result.digit.pixels));
  });
  return inferenceJobDataSchema.parse({ images, model: null, owner: 'bench', webhook: null, submitted_at: new Date().toISOString() });
}

/** Drains `repeats` backlogs of `jobsPerRepeat` jobs; `afterRepeat` runs after each (a memory checkpoint). */
export async function runDrain(options: {
  queue: Queue;
  uploads: readonly Upload[];
  jobsPerRepeat: number;
  repeats: number;
  afterRepeat: () => Promise<void>;
}): Promise<DrainRepeat[]> {
  const { queue, uploads, jobsPerRepeat } = options;
  const data = await jobData(uploads);
  const defaults = loadConfig({});
  const opts = defaultJobOptions({ resultTtlS: defaults.JOB_RESULT_TTL_S, maxCount: defaults.JOB_RETENTION_COUNT });
  const unfinished = async () => Object.values(await queue.getJobCounts(...UNFINISHED_STATES)).reduce((sum, n) => sum + n, 0);
  const repeats: DrainRepeat[] = [];
  for (let r = 0; r < options.repeats; r++) {
    await queue.pause();
    for (let added = 0; added < jobsPerRepeat; added += ADD_CHUNK) {
      const count = Math.min(ADD_CHUNK, jobsPerRepeat - added);
      await queue.addBulk(Array.from({ length: count }, () => ({ name: JOB_NAMES.classifyDigits, data, opts })));
    }
    const failedBefore = await queue.getFailedCount();
    const started = performance.now();
    await queue.resume();
    await waitUntil(`the worker to finish ${jobsPerRepeat} jobs`, async () => (await unfinished()) === 0, { timeoutMs: DRAIN_TIMEOUT_MS, pollMs: POLL_MS });
    const seconds = (performance.now() - started) / 1000;
    repeats.push({
      jobs: jobsPerRepeat,
      seconds: round(seconds, 2),
      images_per_s: round((jobsPerRepeat * uploads.length) / seconds),
      jobs_per_s: round(jobsPerRepeat / seconds),
      failed_jobs: (await queue.getFailedCount()) - failedBefore,
    });
    await options.afterRepeat();
  }
  return repeats;
}
