/**
 * The job object clients see (GET /v1/jobs/:id and webhook bodies). BullMQ
 * states map onto five statuses; a job canceled by a client fails in BullMQ
 * with JOB_CANCELED_REASON and shows as `canceled`.
 */
import { z } from 'zod';
import { digitPredictionSchema, modelInfoSchema } from './inference.ts';

export const JOB_STATUSES = ['queued', 'processing', 'succeeded', 'failed', 'canceled'] as const;
export const jobStatusSchema = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof jobStatusSchema>;

export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled'];

/** Error code a worker fails a canceled job with (as `JOB_CANCELED: <message>`). */
export const JOB_CANCELED = 'JOB_CANCELED';

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
    case 'failed':
      return parseFailedReason(failedReason).code === JOB_CANCELED ? 'canceled' : 'failed';
    default:
      // waiting, waiting-children, delayed, prioritized
      return 'queued';
  }
}
