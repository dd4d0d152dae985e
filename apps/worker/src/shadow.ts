/**
 * Shadow mode (SHADOW_MODEL, SHADOW_FRACTION): a candidate version reads a
 * share of live jobs beside the active one, to compare them on real traffic
 * before it serves anyone.
 *
 * It never touches an answer: a sampled job's images and the active
 * version's digits are held until the job's result is recorded (BullMQ's
 * `completed`), and only then does the shadow model run, one job at a time,
 * in the background. Anything that goes wrong on the shadow path (the model
 * does not load, a forward pass fails, Redis refuses the record) is logged
 * and counted, and the job is long finished; a model that failed to load is
 * tried again after LOAD_RETRY_MS, not on every job. Under load, shadowed jobs
 * beyond MAX_WAITING are skipped rather than queued, so shadow mode cannot
 * build a backlog of its own; so are jobs the shadow version answered
 * itself (once promoted, or asked for by name).
 *
 * Each comparison goes to the worker's metrics (digitq_shadow_*) and to the
 * shadow version's records in Redis (ShadowStats), which its evaluation
 * report reads.
 */
import type { Logger } from 'pino';
import { DEFAULT_MODEL_VARIANT, packModelBatch, parseModelRef } from '@digitq/contracts';
import type { ShadowStats } from '@digitq/jobs';
import { classifyBatch } from '@digitq/model';
import type { WorkerMetrics } from './metrics.ts';
import { modelLabels } from './metrics.ts';
import { modelKey, type LoadedModel } from './model-store.ts';
import type { Classified } from './processors/inference.processor.ts';

/** Shadowed jobs waiting for the shadow model at most; more are skipped (counted), never queued. */
const MAX_WAITING = 32;
/**
 * Sampled jobs held until their outcome at most. A job normally leaves within
 * a batch's time; one whose outcome this worker never hears of (its lock lost,
 * finished elsewhere) would otherwise stay forever. The oldest go first.
 */
const MAX_HELD = 1024;
/** After the shadow model failed to load, jobs are not compared (counted failed) for this long before loading is tried again. */
const LOAD_RETRY_MS = 60_000;
const MS_PER_S = 1000;

export interface ShadowRunnerOptions {
  /** SHADOW_MODEL: `name@vN`, optionally `:variant`. */
  model: string;
  /** SHADOW_FRACTION: share of live jobs (0..1) the shadow model also reads. */
  fraction: number;
  /** Loads the shadow model (once; the model store keeps it). */
  load: (ref: string) => Promise<LoadedModel>;
  stats: ShadowStats;
  metrics: Pick<WorkerMetrics, 'shadowJobs' | 'shadowPredictions' | 'shadowAgreements' | 'shadowComputeSeconds'>;
  log: Logger;
}

/** A sampled job as the active version read it. */
interface Observation {
  /** The key of the version that answered (name@version[:variant]). */
  activeKey: string;
  images: Uint8Array[];
  active: number[];
  activeMs: number;
}

export class ShadowRunner {
  private readonly held = new Map<string, Observation>();
  private readonly labels: { model: string; version: string };
  private waiting = 0;
  private tail: Promise<void> = Promise.resolve();
  /** Until when the shadow model is not tried again after it failed to load (ms since the epoch). */
  private unloadableUntil = 0;

  constructor(private readonly options: ShadowRunnerOptions) {
    const ref = parseModelRef(options.model);
    if (!ref.version) throw new RangeError(`SHADOW_MODEL must name a version (name@vN), got ${JSON.stringify(options.model)}`);
    this.labels = modelLabels({ name: ref.name, version: ref.version, ...(ref.variant ? { variant: ref.variant } : {}) });
  }

  /** A job the active version just read: held, if sampled, until its result is recorded. */
  offer(jobId: string, images: Uint8Array[], classified: Classified): void {
    if (Math.random() >= this.options.fraction) return;
    if (this.held.size >= MAX_HELD) this.held.delete(this.held.keys().next().value!);
    const { name, version, variant } = classified.model;
    const activeKey = modelKey(name, version, variant ?? DEFAULT_MODEL_VARIANT);
    this.held.set(jobId, { activeKey, images, active: classified.predictions.map((p) => p.prediction), activeMs: classified.computeMs });
  }

  /** The job's result is recorded: the shadow model reads its images, in the background. */
  completed(jobId: string): void {
    const observation = this.held.get(jobId);
    if (!observation) return;
    this.held.delete(jobId);
    if (this.waiting >= MAX_WAITING) {
      this.options.metrics.shadowJobs.inc({ ...this.labels, outcome: 'skipped' });
      return;
    }
    this.waiting++;
    this.tail = this.tail.then(() => this.compare(jobId, observation)).finally(() => this.waiting--);
  }

  /** The job failed or was canceled: nothing to compare. */
  forget(jobId: string): void {
    this.held.delete(jobId);
  }

  /** Stops holding jobs and waits for the comparisons already started (shutdown). */
  async close(): Promise<void> {
    this.held.clear();
    await this.tail;
  }

  /** Never throws: the job is finished, whatever happens here. */
  private async compare(jobId: string, observation: Observation): Promise<void> {
    const { metrics, log } = this.options;
    if (Date.now() < this.unloadableUntil) {
      metrics.shadowJobs.inc({ ...this.labels, outcome: 'failed' });
      return;
    }
    let shadow: LoadedModel;
    try {
      shadow = await this.options.load(this.options.model);
    } catch (error) {
      // Loading is not retried for every job: a missing or broken candidate would cost a load attempt per shadowed job.
      this.unloadableUntil = Date.now() + LOAD_RETRY_MS;
      metrics.shadowJobs.inc({ ...this.labels, outcome: 'failed' });
      log.error({ err: error, shadow: this.options.model, retry_ms: LOAD_RETRY_MS }, 'the shadow model failed to load; jobs are answered as usual and not compared until it loads');
      return;
    }
    if (shadow.key === observation.activeKey) {
      // The candidate answered the job itself (promoted, or asked for by name): there is nothing to compare.
      metrics.shadowJobs.inc({ ...this.labels, outcome: 'skipped' });
      return;
    }
    try {
      const started = performance.now();
      const predictions = await classifyBatch(shadow.engine, packModelBatch(observation.images));
      const shadowMs = performance.now() - started;
      const digits = predictions.map((p) => p.prediction);
      const agreements = digits.filter((digit, i) => digit === observation.active[i]).length;
      metrics.shadowPredictions.inc(this.labels, digits.length);
      metrics.shadowAgreements.inc(this.labels, agreements);
      metrics.shadowComputeSeconds.observe({ ...this.labels, role: 'active' }, observation.activeMs / MS_PER_S);
      metrics.shadowComputeSeconds.observe({ ...this.labels, role: 'shadow' }, shadowMs / MS_PER_S);
      await this.options.stats.record(shadow.name, shadow.version, { jobId, active: observation.active, shadow: digits, activeMs: observation.activeMs, shadowMs });
      metrics.shadowJobs.inc({ ...this.labels, outcome: 'compared' });
    } catch (error) {
      metrics.shadowJobs.inc({ ...this.labels, outcome: 'failed' });
      log.warn({ err: error, job: jobId, shadow: this.options.model }, 'shadow model comparison failed (the job is unaffected)');
    }
  }
}
