/**
 * Request and response bodies of the HTTP API, as named zod schemas (the
 * OpenAPI document is generated from them). Limits that depend on the
 * configuration (images per job, bytes per image) are checked by the API,
 * not here.
 */
import { z } from 'zod';
import { digitPredictionSchema, modelInfoSchema, modelRefSchema, webhookEventSchema } from './inference.ts';
import { errorBodySchema, jobStatusSchema, jobViewSchema } from './job-view.ts';
import { webhookAttemptSchema } from './webhooks.ts';
import { workerHeartbeatSchema } from './workers.ts';
import { PIXELS_PER_IMAGE } from './pixels.ts';

/** Priority as clients give it: 1 (least urgent) … 10 (most urgent). */
export const JOB_PRIORITY_MIN = 1;
export const JOB_PRIORITY_MAX = 10;
export const JOB_PRIORITY_DEFAULT = 5;

/** Page size of GET /v1/jobs. */
export const LIST_LIMIT_MAX = 100;
export const LIST_LIMIT_DEFAULT = 20;

const WEBHOOK_URL_MAX_LENGTH = 2048;
const LIST_CURSOR_MAX_LENGTH = 256;

export const jobWebhookEventSchema = webhookEventSchema.extract(['job.started', 'job.completed']);
export type JobWebhookEvent = z.infer<typeof jobWebhookEventSchema>;
export const DEFAULT_JOB_WEBHOOK_EVENTS: readonly JobWebhookEvent[] = ['job.completed'];

export const webhookUrlSchema = z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }).max(WEBHOOK_URL_MAX_LENGTH);

export const jobPrioritySchema = z
  .int({ error: `must be an integer from ${JOB_PRIORITY_MIN} to ${JOB_PRIORITY_MAX}` })
  .min(JOB_PRIORITY_MIN)
  .max(JOB_PRIORITY_MAX);

/**
 * When the client stops caring about the job (ISO 8601 time, with Z or an
 * offset); the `Cancel-After` header says the same as a duration. Not started
 * by then: `aborted`; held by a worker by then: `canceled`.
 */
export const jobDeadlineSchema = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2030-01-01T12:00:00Z' })
  .meta({ description: 'When the job stops being wanted: not started by then, it ends `aborted`; held by a worker by then, `canceled`. Same as the `Cancel-After` header.' });

/** Below this top probability an image is answered `prediction: null, reason: "uncertain"` (default MIN_CONFIDENCE; 0: always a digit). */
export const minConfidenceSchema = z
  .number({ error: 'must be a number from 0 to 1' })
  .min(0)
  .max(1)
  .meta({ description: 'Below this top probability (calibrated, 0..1) an image is answered `prediction: null` with `reason: "uncertain"` and its probabilities, so the app can ask again. Default: the server\'s MIN_CONFIDENCE (0: always a digit).' });

/** min_confidence as a form field or query parameter: text holding a number from 0 to 1. */
const formMinConfidenceSchema = z
  .string()
  .trim()
  .regex(/^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$/, 'must be a number from 0 to 1')
  .transform(Number)
  .pipe(minConfidenceSchema);

const WEBHOOK_FILTER_NEEDS_WEBHOOK = { path: ['webhook_events_filter'], message: 'webhook_events_filter needs webhook' };

/**
 * POST /v1/jobs with `Content-Type: application/json`. Each image is base64
 * of the file's bytes, or a `data:<type>;base64,` URL.
 */
export const createJobJsonBodySchema = z
  .strictObject({
    images: z.array(z.string()).min(1),
    /** Called back on the events in webhook_events_filter. */
    webhook: webhookUrlSchema.optional(),
    /** Default ["job.completed"]. */
    webhook_events_filter: z.array(jobWebhookEventSchema).min(1).optional(),
    /** Default 5. */
    priority: jobPrioritySchema.optional(),
    /** Name or name@version; default the active version of the default model. */
    model: modelRefSchema.optional(),
    deadline: jobDeadlineSchema.optional(),
    min_confidence: minConfidenceSchema.optional(),
  })
  .refine((body) => !body.webhook_events_filter || body.webhook, WEBHOOK_FILTER_NEEDS_WEBHOOK);
export type CreateJobJsonBody = z.infer<typeof createJobJsonBodySchema>;

/** A form field that may be repeated and may hold a comma-separated list. */
const formListSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => [value].flat().flatMap((item) => item.split(',')).map((item) => item.trim()).filter((item) => item !== ''));

const formIntegerSchema = z
  .string()
  .trim()
  .regex(/^[0-9]+$/, 'must be an integer')
  .transform(Number);

/**
 * The text fields of POST /v1/jobs as multipart/form-data (the images are
 * file parts named `image`). Same meaning as in the JSON body;
 * webhook_events_filter may be repeated or comma-separated.
 */
export const createJobFieldsSchema = z
  .strictObject({
    webhook: webhookUrlSchema.optional(),
    webhook_events_filter: formListSchema.pipe(z.array(jobWebhookEventSchema).min(1)).optional(),
    priority: formIntegerSchema.pipe(jobPrioritySchema).optional(),
    model: modelRefSchema.optional(),
    deadline: jobDeadlineSchema.optional(),
    min_confidence: formMinConfidenceSchema.optional(),
  })
  .refine((fields) => !fields.webhook_events_filter || fields.webhook, WEBHOOK_FILTER_NEEDS_WEBHOOK);
export type CreateJobFields = z.infer<typeof createJobFieldsSchema>;

/** What POST /predict may add to its answer on request (`include`). */
export const PREDICT_INCLUDES = ['input', 'explanation', 'engine'] as const;
export const predictIncludeSchema = z.enum(PREDICT_INCLUDES);
export type PredictInclude = z.infer<typeof predictIncludeSchema>;

/** The text fields of POST /predict (the image is the file part `file` or `image`). */
export const predictFieldsSchema = z.strictObject({
  model: modelRefSchema.optional(),
  include: formListSchema
    .pipe(z.array(predictIncludeSchema))
    .optional()
    .meta({
      description:
        'Extra parts of the answer, comma-separated: `input` (the 28x28 image the model saw), `explanation` (which pixels decided the digit: occlusion sensitivity) and `engine` (the inference engine that ran it).',
    }),
  min_confidence: formMinConfidenceSchema.optional(),
});
export type PredictFields = z.infer<typeof predictFieldsSchema>;

/** The query of POST /predict: options that may come in the URL instead of the form (a form field wins). */
export const predictQuerySchema = z.object({
  min_confidence: formMinConfidenceSchema.optional(),
});
export type PredictQuery = z.infer<typeof predictQuerySchema>;

/** GET /v1/jobs query. */
export const listJobsQuerySchema = z.object({
  status: jobStatusSchema.optional(),
  limit: formIntegerSchema.pipe(z.int({ error: `must be an integer from 1 to ${LIST_LIMIT_MAX}` }).min(1).max(LIST_LIMIT_MAX)).default(LIST_LIMIT_DEFAULT),
  /** next_cursor of the previous page. */
  cursor: z.string().min(1).max(LIST_CURSOR_MAX_LENGTH).optional(),
});
export type ListJobsQuery = z.infer<typeof listJobsQuerySchema>;

/** 200 of POST /predict: the one image's prediction and the model that made it. */
export const predictResponseSchema = digitPredictionSchema.extend({
  model: modelInfoSchema,
  job_id: z.string(),
  /** With `include=input`: the preprocessed image the model saw, 784 bytes row by row (0 background, 255 ink). */
  input: z.array(z.int().min(0).max(255)).length(PIXELS_PER_IMAGE).optional(),
  /** With `include=explanation`: per pixel, how much it decided the digit, in [0, 1] (occlusion sensitivity). */
  explanation: z.array(z.number().min(0).max(1)).length(PIXELS_PER_IMAGE).optional(),
  /** With `include=engine`: the inference engine that ran it. */
  engine: z.string().optional(),
});
export type PredictResponse = z.infer<typeof predictResponseSchema>;

/** GET /v1/jobs: newest first; next_cursor is null on the last page. */
export const jobListSchema = z.object({
  data: z.array(jobViewSchema),
  next_cursor: z.string().nullable(),
});
export type JobList = z.infer<typeof jobListSchema>;

/** GET /v1/jobs/:id/webhooks: every delivery attempt for the job, oldest first; capped per job, dropping the oldest. */
export const webhookAttemptListSchema = z.object({
  data: z.array(webhookAttemptSchema),
});
export type WebhookAttemptList = z.infer<typeof webhookAttemptListSchema>;

/** Every 4xx/5xx answer. job_id is present when the error concerns a job that exists (e.g. a 504 from POST /predict). */
export const errorResponseSchema = z.object({
  error: errorBodySchema,
  job_id: z.string().optional(),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

export const healthResponseSchema = z.object({ status: z.literal('ok') });
export type HealthResponse = z.infer<typeof healthResponseSchema>;

// --- Operator surface: readiness and workers ---

/** GET /readyz: 200 when Redis answers and a worker with a loaded model reported recently; otherwise 503 with the reasons. */
export const readyResponseSchema = z.object({ status: z.literal('ready') });
export type ReadyResponse = z.infer<typeof readyResponseSchema>;
export const notReadyResponseSchema = z.object({ status: z.literal('unavailable'), reasons: z.array(z.string()).min(1) });
export type NotReadyResponse = z.infer<typeof notReadyResponseSchema>;

/** GET /v1/workers: the live workers (heartbeat within its TTL), by id. */
export const workerListSchema = z.object({ data: z.array(workerHeartbeatSchema) });
export type WorkerList = z.infer<typeof workerListSchema>;

/** Jobs per state of one queue (GET /v1/queues). */
export const queueCountsSchema = z.object({
  name: z.string(),
  waiting: z.int().min(0),
  active: z.int().min(0),
  completed: z.int().min(0),
  failed: z.int().min(0),
});
export type QueueCounts = z.infer<typeof queueCountsSchema>;

/** GET /v1/queues: every queue's counts. */
export const queueCountsListSchema = z.object({ data: z.array(queueCountsSchema) });
export type QueueCountsList = z.infer<typeof queueCountsListSchema>;
