/**
 * The job object clients see (GET /v1/jobs/:id, webhook bodies, event
 * streams). BullMQ states map onto six client statuses, here and only here
 * (docs/job-statuses.md says the same for clients):
 *
 * | status       | BullMQ state                           | final | meaning                                                                 |
 * |--------------|----------------------------------------|-------|-------------------------------------------------------------------------|
 * | `queued`     | waiting, prioritized, delayed (retry)  | no    | accepted, no worker has it yet (or it waits for another attempt)        |
 * | `processing` | active                                 | no    | a worker has it: held for a micro-batch, running, or a training running |
 * | `succeeded`  | completed                              | yes   | `output` holds the result                                               |
 * | `failed`     | failed, any other code                 | yes   | the job failed for good (bad input, a fault after every retry)           |
 * | `canceled`   | failed with JOB_CANCELED               | yes   | a client's cancel, or its deadline passed after a worker took it        |
 * | `aborted`    | failed with JOB_ABORTED                | yes   | its deadline passed before any worker started it: it never ran          |
 *
 * A queued job with a pending cancel request already shows `canceled`
 * (owned-job.ts): the first worker to take it fails it without running it.
 */
import { z } from 'zod';
import { digitPredictionSchema, modelInfoSchema } from './inference.ts';

export const JOB_STATUSES = ['queued', 'processing', 'succeeded', 'failed', 'canceled', 'aborted'] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'aborted'];

/** Error code a worker fails a canceled job with (as `JOB_CANCELED: <message>`). */
export const JOB_CANCELED = 'JOB_CANCELED';

/** Error code a worker fails a job with whose deadline passed before it started (it never runs, no retry). */
export const JOB_ABORTED = 'JOB_ABORTED';

/**
 * The events of a job's event stream (GET /v1/jobs/:id/events and
 * /v1/trainings/:id/events), each an SSE event name: `status` (the job's
 * view when its status changed), `progress` (a training's progress, with its
 * sequence) and `finished` (the final view; the stream ends after it).
 */
export const JOB_STREAM_EVENTS = ['status', 'progress', 'finished'] as const;
export type JobStreamEvent = (typeof JOB_STREAM_EVENTS)[number];

/** Data of a `progress` event. */
export const jobProgressEventSchema = z.object({ progress: z.unknown(), sequence: z.number() });
export type JobProgressEventData = z.infer<typeof jobProgressEventSchema>;

/** Workers fail jobs with `CODE: message`; this splits it back for clients. */
export function parseFailedReason(reason: string | undefined): { code: string; message: string } {
  const match = /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(reason ?? '');
  return match ? { code: match[1]!, message: match[2]! } : { code: 'JOB_FAILED', message: reason || 'the job failed' };
}

export function formatFailedReason(code: string, message: string): string {
  return `${code}: ${message}`;
}

export const errorBodySchema = z.object({ code: z.string(), message: z.string() });

export const jobViewSchema = z.object({
  id: z.string(),
  status: jobStatusSchema,
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  /** The model requested (or that served the job once it ran). */
  model: z.union([modelInfoSchema, z.object({ name: z.string(), version: z.string().nullable() })]).nullable(),
  input: z.object({ count: z.number().int() }),
  output: z.object({ predictions: z.array(digitPredictionSchema) }).nullable(),
  error: errorBodySchema.nullable(),
  attempts: z.number().int(),
});
export type JobView = z.infer<typeof jobViewSchema>;

/** BullMQ job states (Job.getState()) → client status. */
export function statusFromState(state: string, failedReason: string | undefined): JobStatus {
  switch (state) {
    case 'active':
      return 'processing';
    case 'completed':
      return 'succeeded';
    case 'failed': {
      const { code } = parseFailedReason(failedReason);
      return code === JOB_CANCELED ? 'canceled' : code === JOB_ABORTED ? 'aborted' : 'failed';
    }
    default:
      // waiting, waiting-children, delayed, prioritized
      return 'queued';
  }
}
