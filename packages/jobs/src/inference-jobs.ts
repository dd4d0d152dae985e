/**
 * Inference jobs as clients see them: submit, read, list, cancel and wait.
 * The API's routes are thin wrappers over this class; it talks only to
 * BullMQ and Redis, so it is tested without HTTP.
 */
import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  JOB_NAMES,
  JOB_PRIORITY_DEFAULT,
  JOB_PRIORITY_MAX,
  TERMINAL_STATUSES,
  encodePixels,
  type InferenceJobData,
  type InferenceResult,
  type JobStatus,
  type JobView,
} from '@digitq/contracts';
import type { CancelRequests } from './cancel-requests.ts';
import { jobLifecycleOf, loadOwnedJob, requestCancel } from './owned-job.ts';
import type { JobOutcome, JobWaiter } from './job-waiter.ts';

export interface SubmitInferenceInput {
  /** The job's id (an Idempotency-Key's reserved id); a fresh UUID when omitted. Submitting one id twice makes one job. */
  id?: string;
  /** Preprocessed images, 784 bytes each. */
  images: Uint8Array[];
  model: string | null;
  owner: string;
  webhook: InferenceJobData['webhook'];
  /** 1 (least urgent) … 10 (most urgent); default 5. */
  priority?: number;
  /** ISO time after which the job is no longer wanted (see InferenceJobData.deadline); null or absent: none. */
  deadline?: string | null;
  /** Ask the worker for the first image's occlusion map (InferenceJobData.explain). */
  explain?: boolean;
  /** InferenceJobData.min_confidence; null or absent: the worker's MIN_CONFIDENCE. */
  minConfidence?: number | null;
}

export interface ListJobsOptions {
  status?: JobStatus;
  limit: number;
  cursor?: string;
}

/** Most index entries one list request scans when filtering by status. */
const LIST_SCAN_LIMIT = 1000;

type InferenceJob = Job<InferenceJobData, InferenceResult>;

/** Index members sort by creation time: zero-padded ms, then the id. */
function indexMember(createdMs: number, id: string): string {
  return `${String(createdMs).padStart(15, '0')}:${id}`;
}

/** The fields of an inference job that its view reads. */
export type JobViewSource = Pick<InferenceJob, 'id' | 'data' | 'timestamp' | 'processedOn' | 'finishedOn' | 'failedReason' | 'returnvalue' | 'attemptsMade'>;

/**
 * The client's view of an inference job in BullMQ state `state`
 * (Job.getState()), for GET /v1/jobs/:id and webhook bodies alike.
 * `canceledAt` is the job's pending cancel request, if any.
 */
export function jobViewOf(job: JobViewSource, state: string, canceledAt: string | null, defaultModel: string): JobView {
  const { id, status, created_at, started_at, completed_at, error } = jobLifecycleOf(job, state, canceledAt);
  const result = status === 'succeeded' ? job.returnvalue : null;
  // name[@version][:variant]: the variant shows in the result once the job has run.
  const [name, version] = (job.data.model ?? defaultModel).split(':')[0]!.split('@') as [string, string | undefined];
  return {
    id,
    status,
    created_at,
    started_at,
    completed_at,
    model: result ? result.model : { name, version: version ?? null },
    input: { count: job.data.images.length },
    output: result ? { predictions: result.predictions } : null,
    error,
    attempts: job.attemptsMade,
  };
}

export interface InferenceJobsDeps {
  queue: Queue;
  redis: Redis;
  prefix: string;
  cancelRequests: CancelRequests;
  waiter: JobWaiter;
  resultTtlS: number;
  defaultModel: string;
}

export class InferenceJobs {
  constructor(private readonly deps: InferenceJobsDeps) {}

  private ownerIndex(owner: string): string {
    return `${this.deps.prefix}:${this.deps.queue.name}:owner:${owner}`;
  }

  async submit(input: SubmitInferenceInput): Promise<JobView> {
    const id = input.id ?? randomUUID();
    const now = Date.now();
    const data: InferenceJobData = {
      images: input.images.map(encodePixels),
      model: input.model,
      owner: input.owner,
      webhook: input.webhook,
      submitted_at: new Date(now).toISOString(),
      ...(input.deadline ? { deadline: input.deadline } : {}),
      ...(input.explain ? { explain: true } : {}),
      ...(input.minConfidence !== null && input.minConfidence !== undefined ? { min_confidence: input.minConfidence } : {}),
    };
    const priority = input.priority ?? JOB_PRIORITY_DEFAULT;
    const index = this.ownerIndex(input.owner);
    // The job and its owner-index entry are written together, in one round trip's time: an entry whose job
    // was never added (the add failed) is dropped by list(), which skips and removes entries of missing jobs.
    const [job] = await Promise.all([
      // BullMQ runs lower numbers first; clients think of higher as more urgent.
      this.deps.queue.add(JOB_NAMES.classifyDigits, data, { jobId: id, priority: JOB_PRIORITY_MAX + 1 - priority, timestamp: now }) as Promise<InferenceJob>,
      this.deps.redis
        .multi()
        .zadd(index, 0, indexMember(now, id))
        .zremrangebylex(index, '-', `(${indexMember(now - this.deps.resultTtlS * 1000, '')}`)
        .expire(index, this.deps.resultTtlS)
        .exec(),
    ]);
    return this.view(job, 'waiting', null);
  }

  /**
   * Submits a job and waits up to `timeoutMs` for how it ends, told by its
   * finishing event (which carries the result), without reading the job
   * back: POST /predict's path. The waiter is registered before the job
   * exists, so no event can slip past it. `outcome` is undefined when the
   * time ran out, null when the wait ended without an outcome (a cancel).
   */
  async submitAndWait(input: SubmitInferenceInput, timeoutMs: number): Promise<{ job: JobView; outcome: JobOutcome | undefined }> {
    const id = input.id ?? randomUUID();
    const waiting = this.deps.waiter.register(id, timeoutMs);
    try {
      const job = await this.submit({ ...input, id });
      return { job, outcome: await waiting.outcome };
    } catch (error) {
      waiting.cancel();
      throw error;
    }
  }

  /** The job, or null when it does not exist, expired, or belongs to another owner. */
  async get(id: string, owner: string | null): Promise<JobView | null> {
    const found = await loadOwnedJob<InferenceJob>(this.deps.queue, this.deps.cancelRequests, id, owner);
    return found && this.view(found.job, found.state, found.canceledAt);
  }

  /** The job with the preprocessed images it carries (base64 of 784 bytes each), or null as get() (a correction's input). */
  async getWithImages(id: string, owner: string | null): Promise<{ view: JobView; images: readonly string[] } | null> {
    const found = await loadOwnedJob<InferenceJob>(this.deps.queue, this.deps.cancelRequests, id, owner);
    return found && { view: this.view(found.job, found.state, found.canceledAt), images: found.job.data.images };
  }

  private view(job: InferenceJob, state: string, canceledAt: string | null): JobView {
    return jobViewOf(job, state, canceledAt, this.deps.defaultModel);
  }

  async list(owner: string, options: ListJobsOptions): Promise<{ data: JobView[]; next_cursor: string | null }> {
    const index = this.ownerIndex(owner);
    const data: JobView[] = [];
    let max = options.cursor ? `(${options.cursor}` : '+';
    let scanned = 0;
    let exhausted = false;
    let lastMember: string | null = null;
    while (data.length < options.limit && scanned < LIST_SCAN_LIMIT) {
      const members = await this.deps.redis.zrevrangebylex(index, max, '-', 'LIMIT', 0, options.limit);
      if (members.length === 0) {
        exhausted = true;
        break;
      }
      for (const member of members) {
        scanned++;
        lastMember = member;
        max = `(${member}`;
        const id = member.slice(member.indexOf(':') + 1);
        const view = await this.get(id, owner);
        if (!view) {
          await this.deps.redis.zrem(index, member);
          continue;
        }
        if (!options.status || view.status === options.status) data.push(view);
        if (data.length === options.limit) break;
      }
    }
    const more = !exhausted && lastMember !== null && (await this.deps.redis.zrevrangebylex(index, `(${lastMember}`, '-', 'LIMIT', 0, 1)).length > 0;
    return { data, next_cursor: more ? lastMember : null };
  }

  /**
   * Cancels a queued job at once (a worker fails it on pickup without running
   * it) or a running one at its next safe point. A finished job cannot be canceled.
   */
  async cancel(id: string, owner: string | null): Promise<JobView | null> {
    const current = await this.get(id, owner);
    if (!current) return null;
    if ((await requestCancel(current, id, this.deps.cancelRequests, 'job')) === 'already-canceled') return current;
    this.deps.waiter.wake(id);
    return this.get(id, owner);
  }

  /** Waits up to `timeoutMs` for the job to finish (or be canceled); returns its view either way. */
  async waitForFinish(id: string, owner: string | null, timeoutMs: number): Promise<JobView | null> {
    const isDone = async () => {
      const view = await this.get(id, owner);
      return !view || TERMINAL_STATUSES.includes(view.status);
    };
    await this.deps.waiter.wait(id, timeoutMs, isDone);
    return this.get(id, owner);
  }

  async queuedCount(): Promise<number> {
    const counts = await this.deps.queue.getJobCounts('waiting', 'prioritized', 'delayed');
    return (counts.waiting ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0);
  }
}
