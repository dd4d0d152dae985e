/**
 * Shadow mode's evidence, per shadow version (SHADOW_MODEL): inference
 * workers run a candidate beside the active version on a share of live jobs
 * and record here, after each such job's answer, what both read and how long
 * each took. Read back (with users' corrections joined at read time) as the
 * `shadow` section of the candidate's evaluation report.
 *
 * Kept in Redis as long as jobs are (JOB_RESULT_TTL_S, JOB_RETENTION_COUNT
 * images), under <prefix>:shadow:<name>@<version>:
 * - `images`   sorted set by time: one `{job_id, index, active_prediction, shadow_prediction}` per image;
 * - `latency`  sorted set by time: one `{job_id, active_ms, shadow_ms}` per job.
 * The figures are counted from the records at read time (so they cover the
 * same window as the feedback they are joined with); running totals are the
 * workers' Prometheus counters. Both keys expire JOB_RESULT_TTL_S after their
 * last write, so a version no longer shadowed leaves nothing behind.
 */
import type { Redis } from 'ioredis';

/** One image of a shadowed job: the digit the active version answered and the one the shadow read (argmax, before any min_confidence). */
export interface ShadowImageRecord {
  job_id: string;
  index: number;
  active_prediction: number;
  shadow_prediction: number;
}

/** What a worker records for one shadowed job. */
export interface ShadowJobRecord {
  jobId: string;
  /** Per image of the job, in order. */
  active: readonly number[];
  shadow: readonly number[];
  /** Compute time of the active version's forward pass that served the job (its micro-batch), ms. */
  activeMs: number;
  /** Compute time of the shadow version's forward pass over the job's images, ms. */
  shadowMs: number;
}

/** A user's correction, as the feedback store keeps it (only what the join needs). */
export interface FeedbackLabel {
  job_id: string;
  index: number;
  label: number;
}

/** A shadow version's figures, for its evaluation report (`shadow`). */
export interface ShadowStatsView {
  model: { name: string; version: string };
  /** Shadowed jobs and their images still kept. */
  jobs: number;
  images: number;
  /** Share of images on which the shadow read the active version's digit; null before any. */
  agreement: number | null;
  /** Median compute time per shadowed job, ms; null before any. */
  latency_ms: { active_p50: number | null; shadow_p50: number | null };
  /** Over the shadowed images a user corrected: how many, and how many each version read right. */
  feedback: { count: number; active_correct: number; shadow_correct: number };
}

export interface ShadowStatsOptions {
  /** How long records stay (JOB_RESULT_TTL_S). */
  resultTtlS: number;
  /** Most images (and jobs) kept per shadow version (JOB_RETENTION_COUNT). */
  maxCount: number;
}

const MS_PER_S = 1000;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export class ShadowStats {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: ShadowStatsOptions,
  ) {}

  private key(name: string, version: string, part: 'images' | 'latency'): string {
    return `${this.prefix}:shadow:${name}@${version}:${part}`;
  }

  /** Records one shadowed job (one round trip); older records past the retention are dropped on the way. */
  async record(name: string, version: string, job: ShadowJobRecord, now = Date.now()): Promise<void> {
    if (job.active.length !== job.shadow.length) throw new RangeError(`${job.active.length} active predictions for ${job.shadow.length} shadow ones`);
    const images = this.key(name, version, 'images');
    const latency = this.key(name, version, 'latency');
    const oldest = now - this.options.resultTtlS * MS_PER_S;
    const members = job.active.flatMap((active, index) => {
      const record: ShadowImageRecord = { job_id: job.jobId, index, active_prediction: active, shadow_prediction: job.shadow[index]! };
      return [now, JSON.stringify(record)];
    });
    const multi = this.redis.multi();
    if (members.length > 0) multi.zadd(images, ...members);
    multi.zadd(latency, now, JSON.stringify({ job_id: job.jobId, active_ms: job.activeMs, shadow_ms: job.shadowMs }));
    for (const key of [images, latency]) {
      multi
        .zremrangebyscore(key, '-inf', `(${oldest}`)
        .zremrangebyrank(key, 0, -(this.options.maxCount + 1))
        .expire(key, this.options.resultTtlS);
    }
    const results = await multi.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0]!;
  }

  /**
   * The shadow version's figures over the records still kept, with `feedback`
   * (users' corrections: job id, image index, true digit; e.g.
   * FeedbackStore.entries()) joined on job and image, so both versions are
   * judged where the truth is known.
   */
  async read(name: string, version: string, feedback: Iterable<FeedbackLabel> | AsyncIterable<FeedbackLabel> = []): Promise<ShadowStatsView> {
    const [images, latency] = await Promise.all([
      this.redis.zrange(this.key(name, version, 'images'), 0, -1),
      this.redis.zrange(this.key(name, version, 'latency'), 0, -1),
    ]);
    const records = new Map<string, ShadowImageRecord>();
    let agreements = 0;
    for (const member of images) {
      const record = JSON.parse(member) as ShadowImageRecord;
      records.set(`${record.job_id}#${record.index}`, record);
      if (record.active_prediction === record.shadow_prediction) agreements++;
    }
    const timings = latency.map((member) => JSON.parse(member) as { active_ms: number; shadow_ms: number });
    const judged = { count: 0, active_correct: 0, shadow_correct: 0 };
    for await (const entry of feedback) {
      const record = records.get(`${entry.job_id}#${entry.index}`);
      if (!record) continue;
      judged.count++;
      if (record.active_prediction === entry.label) judged.active_correct++;
      if (record.shadow_prediction === entry.label) judged.shadow_correct++;
    }
    return {
      model: { name, version },
      jobs: timings.length,
      images: records.size,
      agreement: records.size > 0 ? agreements / records.size : null,
      latency_ms: { active_p50: median(timings.map((t) => t.active_ms)), shadow_p50: median(timings.map((t) => t.shadow_ms)) },
      feedback: judged,
    };
  }
}
