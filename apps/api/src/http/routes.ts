/**
 * The route table: every route of the HTTP API once, in the order the
 * OpenAPI document lists them. A handler reads its request through the
 * intake, calls its use case and says the result as HTTP (status, headers,
 * body); errors are thrown and answered by the error handler with the status
 * of their code (status.ts). Mounting (express-adapter.ts, app.ts) and the
 * document (openapi.ts) are generated from this table.
 *
 * Not here: the HTML UIs, the page at / (web/router.ts), Swagger UI (/docs)
 * and bull-board (/admin/queues), which are sub-apps of their own.
 */
import type { Queue } from 'bullmq';
import { z } from 'zod';
import {
  createJobFieldsSchema,
  createJobJsonBodySchema,
  feedbackDeletedSchema,
  feedbackEntrySchema,
  feedbackListSchema,
  feedbackRequestSchema,
  evaluationReportSchema,
  healthResponseSchema,
  jobListSchema,
  jobViewSchema,
  listFeedbackQuerySchema,
  listJobsQuerySchema,
  listOwnFeedbackQuerySchema,
  modelListSchema,
  modelNameSchema,
  modelVersionSchema,
  modelVersionViewSchema,
  notReadyResponseSchema,
  PREDICT_INCLUDES,
  predictFieldsSchema,
  predictQuerySchema,
  predictResponseSchema,
  queueCountsListSchema,
  readyResponseSchema,
  trainingRequestSchema,
  trainingViewSchema,
  webhookAttemptListSchema,
  workerListSchema,
  type ErrorCode,
  type HealthResponse,
  type NotReadyResponse,
  type ReadyResponse,
} from '@digitq/contracts';
import {
  JOB_NO_IMAGE_MESSAGE,
  PREDICT_NO_IMAGE_MESSAGE,
  acceptsEventStream,
  readJobDeadline,
  readJsonJobRequest,
  readLastEventId,
  readListJobsQuery,
  activationQuerySchema,
  readActivation,
  readReportChart,
  reportChartQuerySchema,
  readModelVersionRef,
  readMultipartJobRequest,
  readPredictRequest,
  readTrainingRequest,
} from '../intake/requests.ts';
import {
  EXAMPLE_IMAGE_BASE64,
  EXAMPLE_JOB_ID,
  canceledJobExample,
  feedbackEntryExample,
  feedbackListExample,
  jobListExample,
  metricsExample,
  modelListExample,
  modelVersionExample,
  notReadyExample,
  predictExample,
  queuedJobExample,
  succeededJobExample,
  trainingExample,
  trainingRequestExample,
  webhookAttemptsExample,
  workerListExample,
} from './openapi-examples.ts';
import { modelReportExample } from './report-example.ts';
import { parseOrThrow } from '../intake/parse.ts';
import { readinessProblems, type ReadinessDeps } from '../readiness.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { EVENT_HEARTBEAT_MS, EventStreamSlots, openJobEvents, type JobStreamItem } from '../use-cases/events.ts';
import { cancelJob, getJob, isFinished, listJobWebhookAttempts, listJobs, submitJob } from '../use-cases/jobs.ts';
import { correctPrediction, deleteAllFeedback, deleteFeedback, exportFeedbackIdx, exportFeedbackPng, listFeedback } from '../use-cases/feedback.ts';
import { REPORT_CHARTS, activateModel, getModel, getModelReport, listModels, renderModelReportChart, renderReportChart, type ReadShadowFigures, type ReportChart } from '../use-cases/models.ts';
import { jobPath, trainingPath } from '../use-cases/paths.ts';
import { predictDigit } from '../use-cases/predict.ts';
import { listQueueCounts } from '../use-cases/queues.ts';
import { cancelTraining, getTraining, startTraining } from '../use-cases/trainings.ts';
import { listWorkers } from '../use-cases/workers.ts';
import { IDEMPOTENT_REPLAYED_HEADER, idempotencyOf } from './idempotency.ts';
import { API_VERSION, json, locationHeader, type OpenApiDocument } from './openapi.ts';
import { MAX_PREFER_WAIT_S, parsePreferWait, waitAppliedHeaders } from './prefer.ts';
import { ownerOf, type DocumentedError, type EventStreamAnswer, type HttpRequest, type Route } from './route.ts';
import { jobFailureStatus } from './status.ts';

export const OPENAPI_PATH = '/openapi.json';
export const METRICS_PATH = '/metrics';

/** A training request is a few settings; 16 KiB leaves room for a long webhook URL and dataset path. */
const TRAINING_BODY_LIMIT_BYTES = 16 * 1024;
/** A correction is two small integers. */
const FEEDBACK_BODY_LIMIT_BYTES = 1024;
const ZIP_MEDIA_TYPE = 'application/zip';
const NOT_READY_STATUS = 503;
const SVG_CONTENT_TYPE = 'image/svg+xml; charset=utf-8';
const REPORT_CHART_SUMMARIES: Record<ReportChart, string> = {
  confusion: "The version's confusion matrix (rows: true digit, columns: read as), as SVG",
  reliability: "The version's reliability diagram (accuracy against confidence per bin, on the calibrated probabilities), as SVG",
  robustness: "The version's accuracy per robustness degradation (low-resolution scans, binarisation, digits filling the box, thick and thin pens), as SVG",
};

/** A failed job's own codes, answered by POST /predict when the job it waited on failed. */
const JOB_FAILURES: DocumentedError[] = (['JOB_CANCELED', 'JOB_FAILED'] as const).map((code) => ({ code, status: jobFailureStatus(code) }));
const IMAGE_ERRORS: ErrorCode[] = ['IMAGE_TOO_LARGE', 'IMAGE_TOO_MANY_PIXELS', 'IMAGE_UNSUPPORTED_FORMAT', 'IMAGE_CORRUPT', 'IMAGE_BLANK', 'IMAGE_EMPTY_INPUT', 'IMAGE_TIMEOUT'];

/** What GET /metrics exposes: a prom-client Registry, or (in a cluster) every API process's metrics together. */
export interface MetricsSource {
  contentType: string;
  metrics(): Promise<string>;
}

export interface RouteContext {
  intake: IntakeDeps;
  readiness: ReadinessDeps;
  metrics: MetricsSource;
  /** The document GET /openapi.json serves (generated from these routes, so asked for when served). */
  document: () => OpenApiDocument;
  maxImageBytes: number;
  maxImagesPerJob: number;
  /** The queues GET /v1/queues counts (inference, training, webhooks). */
  queues: readonly Queue[];
  /** A version's live shadow-mode figures for its report (absent: reports carry what was stored). */
  shadowFigures?: ReadShadowFigures;
}

function jobRef(request: HttpRequest): { owner: string; id: string } {
  return { owner: ownerOf(request), id: request.params.id! };
}

/** A job's events as server-sent events: `status`, `progress` and `finished` with JSON data, heartbeats as comments. */
function serverSentEvents(events: (signal: AbortSignal) => AsyncGenerator<JobStreamItem>): EventStreamAnswer {
  return async (sink, signal) => {
    for await (const item of events(signal)) {
      if (item.type === 'heartbeat') sink.comment('keep-alive');
      else sink.event({ ...(item.id === null ? {} : { id: item.id }), event: item.event, data: JSON.stringify(item.data) });
    }
  };
}

const EVENT_STREAM_DESCRIPTION = `Server-sent events until the job ends: \`status\` (the job's view, when its status changed), \`progress\` (a training's progress and its sequence) and \`finished\` (the final view), after which the stream closes. Every recorded event has an \`id\`: reconnect with \`Last-Event-ID\` to resume after it (events are kept an hour after a job's last one, in Redis, so any API process resumes). A comment line (\`: keep-alive\`) comes every ${EVENT_HEARTBEAT_MS / 1000} s of silence. An event without an id is the job's view read directly (its recorded events expired).`;

const EVENT_STREAM_EXAMPLE = [
  'id: 1717000000000-0\nevent: status\ndata: {"id":"…","status":"queued",…}\n',
  'id: 1717000000120-0\nevent: status\ndata: {"id":"…","status":"processing",…}\n',
  'id: 1717000000150-0\nevent: finished\ndata: {"id":"…","status":"succeeded",…}\n',
].join('\n');

export function createRoutes(ctx: RouteContext): Route[] {
  const { intake } = ctx;
  // Named components. Nested schemas are inlined (zod-to-openapi only references schemas named where they are defined).
  const JobView = jobViewSchema.meta({ id: 'JobView', description: 'An inference job as clients see it' });
  const TrainingView = trainingViewSchema.meta({ id: 'TrainingView', description: 'A training job' });
  const FeedbackEntry = feedbackEntrySchema.meta({ id: 'FeedbackEntry', description: "A correction: the true digit of one of a job's images" });
  const FeedbackDeleted = feedbackDeletedSchema.meta({ id: 'FeedbackDeleted', description: 'How many corrections were deleted' });
  const FeedbackList = feedbackListSchema.meta({ id: 'FeedbackList', description: 'A page of corrections, newest first' });
  const ModelVersionView = modelVersionViewSchema.meta({ id: 'ModelVersion', description: 'A model version: its training, metrics and whether it serves' });
  const binaryFile = z.string().meta({ format: 'binary' });
  const jobIdParams = z.object({ id: z.string().meta({ description: 'The job id (a UUID)', example: EXAMPLE_JOB_ID }) });
  const trainingIdParams = z.object({ id: z.string().meta({ description: 'The training id (a UUID)', example: trainingExample.id }) });
  const modelParams = z.object({
    name: modelNameSchema.meta({ example: 'digitnet' }),
    version: modelVersionSchema.meta({ example: 'v3' }),
  });
  const preferHeader = z.object({
    Prefer: z
      .string()
      .optional()
      .meta({ description: `\`wait=N\`: hold the answer up to N seconds (at most ${MAX_PREFER_WAIT_S}) for the job to finish instead of polling (RFC 7240)`, example: 'wait=10' }),
  });
  const idempotencyHeader = z.object({
    'Idempotency-Key': z
      .string()
      .min(1)
      .max(255)
      .optional()
      .meta({
        description:
          'Makes a retry safe: the same key with the same request returns the same job (with `Idempotent-Replayed: true`) for IDEMPOTENCY_TTL_S (24 h); the same key with a different request is 409 IDEMPOTENCY_CONFLICT. Keys are per API key.',
        example: '9b2e6c1a-5f0d-4c3b-8a7e-1d2f3a4b5c6d',
      }),
  });
  const replayed = (yes: boolean): Record<string, string> => (yes ? { [IDEMPOTENT_REPLAYED_HEADER]: 'true' } : {});
  const none = { kind: 'none' } as const;
  const cancelAfterHeader = z.object({
    'Cancel-After': z
      .string()
      .optional()
      .meta({
        description:
          'A deadline from now (`500ms`, `30s`, `2m`, `1m30s`, `1h`, or seconds): a job not started by then ends `aborted` without running; one held by a worker for its batch then is `canceled`. With a `deadline` field too, the earlier counts.',
        example: '30s',
      }),
  });
  const acceptHeader = z.object({
    Accept: z.string().optional().meta({ description: '`text/event-stream`: answer with the job\'s events (as GET /v1/jobs/{id}/events) instead of its view', example: 'text/event-stream' }),
  });
  const lastEventIdHeader = z.object({
    'Last-Event-ID': z.string().optional().meta({ description: 'The id of the last event received: the stream resumes after it', example: '1717000000120-0' }),
  });
  const eventStreamResponse = { 'text/event-stream': { schema: z.string().meta({ description: EVENT_STREAM_DESCRIPTION }), example: EVENT_STREAM_EXAMPLE } };
  // Each open stream holds a Redis connection: this process serves at most MAX_EVENT_STREAMS.
  const slots = new EventStreamSlots();
  const eventsOf = async (kind: 'inference' | 'training', request: HttpRequest, id: string, lastEventId: string | null) =>
    serverSentEvents(await openJobEvents({ kind, owner: ownerOf(request), id, lastEventId }, { ...intake, slots }));

  return [
    // --- Operations surface (no API key) ---
    {
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      tags: ['operations'],
      summary: 'Liveness: the process serves HTTP',
      access: 'public',
      body: none,
      responses: { 200: json(healthResponseSchema, { status: 'ok' }, 'Alive') },
      errors: [],
      handler: async () => ({ status: 200, body: { status: 'ok' } satisfies HealthResponse }),
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'ready',
      tags: ['operations'],
      summary: 'Readiness: Redis answers and a worker with a loaded model reported recently',
      description: 'For load balancers and orchestrators: take the instance out of rotation while this is 503.',
      access: 'public',
      body: none,
      responses: {
        200: json(readyResponseSchema, { status: 'ready' }, 'Ready to serve predictions'),
        503: json(notReadyResponseSchema, notReadyExample, 'Not ready, with the reasons'),
      },
      errors: [],
      handler: async () => {
        const headers = { 'Cache-Control': 'no-store' };
        const reasons = await readinessProblems(ctx.readiness).catch((error: unknown) => [`readiness check failed: ${error instanceof Error ? error.message : String(error)}`]);
        if (reasons.length === 0) return { status: 200, headers, body: { status: 'ready' } satisfies ReadyResponse };
        return { status: NOT_READY_STATUS, headers, body: { status: 'unavailable', reasons } satisfies NotReadyResponse };
      },
    },
    {
      method: 'get',
      path: OPENAPI_PATH,
      operationId: 'openapi',
      tags: ['operations'],
      summary: 'This document',
      access: 'public',
      body: none,
      responses: {
        200: {
          description: 'The OpenAPI 3.1 document',
          content: { 'application/json': { schema: { type: 'object' }, example: { openapi: '3.1.0', info: { title: 'digitq', version: API_VERSION }, paths: {} } } },
        },
      },
      errors: [],
      handler: async () => ({ status: 200, body: ctx.document() }),
    },
    {
      method: 'get',
      path: METRICS_PATH,
      operationId: 'metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics of this API instance',
      description:
        'HTTP requests by route pattern and status, queue depth per state, live workers and the model versions they serve. Job timings and webhook deliveries are measured by the workers (their --metrics-port).',
      access: 'admin',
      body: none,
      responses: {
        200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' }, example: metricsExample } } },
      },
      errors: ['UNAUTHORIZED', 'FORBIDDEN'],
      handler: async () => ({
        status: 200,
        headers: { 'Cache-Control': 'no-store' },
        text: { contentType: ctx.metrics.contentType, content: await ctx.metrics.metrics() },
      }),
    },

    // --- Predictions and jobs ---
    {
      method: 'post',
      path: '/predict',
      operationId: 'predict',
      tags: ['predict'],
      summary: 'Classify one image and wait for the answer',
      description:
        'Submits a one-image job and waits for it (PREDICT_TIMEOUT_MS). A slow job answers 504 with its Location, where the result can be read later. Refused with 429 QUEUE_FULL while the queue is full. The form field `include` (comma-separated) adds to the answer: `input`, the 28x28 image the model saw (784 values 0-255, row by row); `explanation`, per pixel how much hiding it lowers the predicted digit\'s probability (occlusion sensitivity, 784 values in [0, 1]); `engine`, the inference engine that ran it. With `min_confidence` (form field or query, 0..1; default MIN_CONFIDENCE) an image whose top probability is below it is answered `prediction: null`, `reason: "uncertain"`, with its confidence and probabilities.',
      access: 'apiKey',
      body: {
        kind: 'images',
        fileFields: ['file', 'image'],
        maxFiles: 1,
        maxFileBytes: ctx.maxImageBytes,
        json: false,
        tooManyFilesMessage: 'POST /predict takes exactly one image; send several to POST /v1/jobs',
        noImageMessage: PREDICT_NO_IMAGE_MESSAGE,
      },
      admit: true,
      request: {
        query: predictQuerySchema,
        body: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: z.object({
                file: binaryFile.meta({ description: `The image (PNG, JPEG, GIF, WebP, BMP or TIFF; at most ${ctx.maxImageBytes} bytes). The field may also be named \`image\`.` }),
                ...predictFieldsSchema.shape,
                // An example, so "Try it out" does not send a string made up from the pattern (a model that does not exist).
                model: predictFieldsSchema.shape.model.meta({ description: 'name, name@vN, name:variant or name@vN:variant; default: the active version of the default model', example: 'digitnet' }),
                // Documented as the comma-separated text a form sends (the schema also takes the field repeated).
                include: z
                  .string()
                  .regex(new RegExp(`^(${PREDICT_INCLUDES.join('|')})(,(${PREDICT_INCLUDES.join('|')}))*$`))
                  .optional()
                  .meta({ description: predictFieldsSchema.shape.include.description, example: PREDICT_INCLUDES.join(',') }),
              }),
            },
          },
        },
      },
      responses: {
        200: json(predictResponseSchema.meta({ id: 'PredictResponse' }), predictExample, 'The digit, its confidence, and the model that read it'),
      },
      errors: ['VALIDATION_FAILED', 'NO_IMAGE', 'TOO_MANY_IMAGES', 'MODEL_NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'QUEUE_FULL', 'TIMEOUT', ...IMAGE_ERRORS, ...JOB_FAILURES],
      handler: async (request) => {
        const input = readPredictRequest(request.files, request.body, request.query);
        return { status: 200, body: await predictDigit({ ...input, owner: ownerOf(request) }, intake) };
      },
    },
    {
      method: 'post',
      path: '/v1/jobs',
      operationId: 'createJob',
      tags: ['jobs'],
      summary: 'Submit a batch of images',
      description: `Up to ${ctx.maxImagesPerJob} images per job, as multipart/form-data (repeated \`image\` file fields) or JSON (base64). Answers 202 with the queued job, or 200 with the finished job when \`Prefer: wait\` was enough. Refused with 429 QUEUE_FULL while the queue is full.`,
      access: 'apiKey',
      body: {
        kind: 'images',
        fileFields: ['image'],
        maxFiles: ctx.maxImagesPerJob,
        maxFileBytes: ctx.maxImageBytes,
        json: true,
        tooManyFilesMessage: `too many images; at most ${ctx.maxImagesPerJob} per job`,
        noImageMessage: JOB_NO_IMAGE_MESSAGE,
      },
      admit: true,
      request: {
        headers: z.object({ ...idempotencyHeader.shape, ...preferHeader.shape, ...cancelAfterHeader.shape, ...acceptHeader.shape }),
        body: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: z.object({
                image: z
                  .array(binaryFile)
                  .min(1)
                  .max(ctx.maxImagesPerJob)
                  .meta({ description: `The images, one file part each (at most ${ctx.maxImageBytes} bytes per image)` }),
                ...createJobFieldsSchema.shape,
              }),
            },
            'application/json': {
              schema: createJobJsonBodySchema.meta({ id: 'CreateJobJsonBody' }),
              example: { images: [EXAMPLE_IMAGE_BASE64], webhook: 'https://example.com/hooks/digits', priority: 7 },
            },
          },
        },
      },
      responses: {
        202: json(JobView, queuedJobExample, 'Accepted: the job is queued', z.object({ Location: locationHeader() })),
        200: {
          ...json(JobView, succeededJobExample, 'The job finished within the `Prefer: wait` time; with `Accept: text/event-stream`, its events', z.object({ Location: locationHeader() })),
          content: { 'application/json': { schema: JobView, example: succeededJobExample }, ...eventStreamResponse },
        },
      },
      errors: ['VALIDATION_FAILED', 'NO_IMAGE', 'TOO_MANY_IMAGES', 'IDEMPOTENCY_CONFLICT', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'WEBHOOK_URL_REFUSED', 'QUEUE_FULL', 'SERVICE_UNAVAILABLE', ...IMAGE_ERRORS],
      handler: async (request) => {
        // Validated before anything else (the idempotency fingerprint included) looks into the body.
        const asSent =
          request.bodyType === 'multipart' ? readMultipartJobRequest(request.files, request.body, ctx.maxImagesPerJob) : readJsonJobRequest(request.body, ctx.maxImagesPerJob);
        const job = readJobDeadline(asSent, request.headers['cancel-after']);
        if (acceptsEventStream(request.headers.accept)) {
          // Streamed as cog does: the created job's events from its first, so there is nothing to wait for.
          const submitted = await submitJob({ ...job, owner: ownerOf(request), idempotency: idempotencyOf(request), waitS: null }, intake);
          const stream = await eventsOf('inference', request, submitted.job.id, null);
          return { status: 200, headers: { ...replayed(submitted.replayed), Location: jobPath(submitted.job.id) }, stream };
        }
        const waitS = parsePreferWait(request.headers.prefer);
        const submitted = await submitJob({ ...job, owner: ownerOf(request), idempotency: idempotencyOf(request), waitS }, intake);
        return {
          status: isFinished(submitted.job) ? 200 : 202,
          headers: { ...replayed(submitted.replayed), Location: jobPath(submitted.job.id), ...waitAppliedHeaders(waitS) },
          body: submitted.job,
        };
      },
    },
    {
      method: 'get',
      path: '/v1/jobs',
      operationId: 'listJobs',
      tags: ['jobs'],
      summary: "List this key's jobs, newest first",
      access: 'apiKey',
      body: none,
      request: { query: listJobsQuerySchema },
      responses: { 200: json(jobListSchema.meta({ id: 'JobList' }), jobListExample, 'A page of jobs') },
      errors: ['VALIDATION_FAILED'],
      handler: async (request) => ({ status: 200, body: await listJobs({ owner: ownerOf(request), query: readListJobsQuery(request.query) }, intake) }),
    },
    {
      method: 'get',
      path: '/v1/jobs/:id',
      operationId: 'getJob',
      tags: ['jobs'],
      summary: 'Read a job',
      access: 'apiKey',
      body: none,
      request: { params: jobIdParams, headers: preferHeader },
      responses: { 200: json(JobView, succeededJobExample, 'The job') },
      errors: ['JOB_NOT_FOUND'],
      handler: async (request) => {
        const waitS = parsePreferWait(request.headers.prefer);
        const job = await getJob({ ...jobRef(request), waitS }, intake);
        return { status: 200, headers: waitAppliedHeaders(waitS), body: job };
      },
    },
    {
      method: 'post',
      path: '/v1/jobs/:id/cancel',
      operationId: 'cancelJob',
      tags: ['jobs'],
      summary: 'Cancel a queued or running job',
      access: 'apiKey',
      body: none,
      request: { params: jobIdParams },
      responses: { 200: json(JobView, canceledJobExample, 'The job, canceled') },
      errors: ['JOB_NOT_FOUND', 'JOB_FINISHED'],
      handler: async (request) => ({ status: 200, body: await cancelJob(jobRef(request), intake) }),
    },
    {
      method: 'get',
      path: '/v1/jobs/:id/events',
      operationId: 'streamJobEvents',
      tags: ['jobs'],
      summary: "The job's status changes as server-sent events, until it ends",
      description: EVENT_STREAM_DESCRIPTION,
      access: 'apiKey',
      body: none,
      request: { params: jobIdParams, headers: lastEventIdHeader },
      responses: { 200: { description: 'The event stream', content: eventStreamResponse } },
      errors: ['JOB_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
      handler: async (request) => ({ status: 200, stream: await eventsOf('inference', request, request.params.id!, readLastEventId(request.headers['last-event-id'])) }),
    },
    {
      method: 'get',
      path: '/v1/jobs/:id/webhooks',
      operationId: 'listJobWebhookAttempts',
      tags: ['jobs'],
      summary: "The job's webhook delivery attempts, oldest first",
      access: 'apiKey',
      body: none,
      request: { params: jobIdParams },
      responses: { 200: json(webhookAttemptListSchema.meta({ id: 'WebhookAttemptList' }), webhookAttemptsExample, 'Delivery attempts') },
      errors: ['JOB_NOT_FOUND'],
      handler: async (request) => ({ status: 200, body: await listJobWebhookAttempts(jobRef(request), intake) }),
    },
    {
      method: 'get',
      path: '/v1/workers',
      operationId: 'listWorkers',
      tags: ['operations'],
      summary: 'Live workers and the model versions they have loaded',
      access: 'apiKey',
      body: none,
      responses: { 200: json(workerListSchema.meta({ id: 'WorkerList' }), workerListExample, 'Workers whose heartbeat is current') },
      errors: [],
      handler: async () => ({ status: 200, body: await listWorkers(intake) }),
    },
    {
      method: 'get',
      path: '/v1/queues',
      operationId: 'listQueueCounts',
      tags: ['operations'],
      summary: 'Jobs per state in each queue: waiting, active, completed, failed',
      description: 'Counts only (no job data). Waiting includes prioritized and delayed jobs. Completed and failed jobs are counted while they are retained (JOB_RESULT_TTL_S, JOB_RETENTION_COUNT).',
      access: 'apiKey',
      body: none,
      responses: {
        200: json(queueCountsListSchema.meta({ id: 'QueueCountsList' }), { data: [{ name: 'inference', waiting: 3, active: 1, completed: 120, failed: 2 }] }, 'The counts per queue'),
      },
      errors: [],
      handler: async () => ({ status: 200, headers: { 'Cache-Control': 'no-store' }, body: await listQueueCounts(ctx.queues) }),
    },

    // --- Feedback (corrections) ---
    {
      method: 'post',
      path: '/v1/jobs/:id/feedback',
      operationId: 'correctJobPrediction',
      tags: ['feedback'],
      summary: "Correct an answer: this image is really that digit",
      description:
        "Keeps the image the model saw (the job's preprocessed 28x28 input) with the digit it really is, to train and judge later versions on (`dataset: mnist+feedback`; about 20% of corrections, chosen by id, are held back to judge on and never trained on). Only a succeeded job's answers can be corrected, by the job's owner. Correcting the same image again replaces its label: 201 for a new correction, 200 for a replaced one.",
      access: 'apiKey',
      body: { kind: 'json', maxBytes: FEEDBACK_BODY_LIMIT_BYTES },
      request: { params: jobIdParams, body: { required: true, content: { 'application/json': { schema: feedbackRequestSchema.meta({ id: 'FeedbackRequest' }), example: { index: 0, label: 7 } } } } },
      responses: {
        201: json(FeedbackEntry, feedbackEntryExample, 'The correction, stored'),
        200: json(FeedbackEntry, { ...feedbackEntryExample, label: 4 }, 'The correction of this image made before, its label replaced'),
      },
      errors: ['VALIDATION_FAILED', 'UNSUPPORTED_MEDIA_TYPE', 'JOB_NOT_FOUND', 'JOB_NOT_SUCCEEDED', 'INDEX_OUT_OF_RANGE'],
      handler: async (request) => {
        const correction = parseOrThrow(feedbackRequestSchema, request.body, 'feedback');
        const { entry, replaced } = await correctPrediction({ ...correction, ...jobRef(request) }, intake);
        return { status: replaced ? 200 : 201, body: entry };
      },
    },
    {
      method: 'get',
      path: '/v1/feedback/mine',
      operationId: 'listOwnFeedback',
      tags: ['feedback'],
      summary: "This key's corrections, newest first",
      access: 'apiKey',
      body: none,
      request: { query: listOwnFeedbackQuerySchema },
      responses: { 200: json(FeedbackList, feedbackListExample, 'A page of corrections') },
      errors: ['VALIDATION_FAILED'],
      handler: async (request) => {
        const query = parseOrThrow(listOwnFeedbackQuerySchema, request.query, 'query');
        return { status: 200, body: await listFeedback({ ...query, owner: ownerOf(request) }, intake) };
      },
    },
    {
      method: 'delete',
      path: '/v1/feedback/:id',
      operationId: 'deleteFeedback',
      tags: ['feedback'],
      summary: 'Delete one of your corrections',
      access: 'apiKey',
      body: none,
      request: { params: z.object({ id: z.string().meta({ description: 'The correction id', example: feedbackEntryExample.id }) }) },
      responses: { 200: json(FeedbackDeleted, { deleted: 1 }, 'Deleted') },
      errors: ['FEEDBACK_NOT_FOUND'],
      handler: async (request) => ({ status: 200, body: await deleteFeedback({ owner: ownerOf(request), id: request.params.id! }, intake) }),
    },
    {
      method: 'delete',
      path: '/v1/feedback',
      operationId: 'deleteAllFeedback',
      tags: ['feedback'],
      summary: 'Delete all your corrections',
      access: 'apiKey',
      body: none,
      responses: { 200: json(FeedbackDeleted, { deleted: 12 }, 'How many were deleted') },
      errors: [],
      handler: async (request) => ({ status: 200, body: await deleteAllFeedback({ owner: ownerOf(request) }, intake) }),
    },
    {
      // Every tenant's corrections: on the operator surface, behind the admin guard.
      method: 'get',
      path: '/v1/feedback',
      operationId: 'listFeedback',
      tags: ['feedback'],
      summary: "Every owner's corrections: a page, or all of them as IDX or PNG files",
      description:
        "`format=json` (default): a page, newest first. `format=idx`: a zip of MNIST's four files (gzipped IDX), the trainable corrections as the train split and the held-back ones as the test split: unzip it under TRAINING_DATA_ROOT and train with `dataset: idx:<dir>`. `format=png`: a zip of `<label>/<id>.png` (28x28, white ink on black), for `dataset: folder:<dir>`. The exports hold every matching correction (`owner`, `heldback`); `limit` and `cursor` page the JSON only. Needs the admin credentials (ADMIN_API_KEY or ADMIN_USER/ADMIN_PASSWORD) once any are configured.",
      access: 'admin',
      body: none,
      request: { query: listFeedbackQuerySchema },
      responses: {
        200: {
          description: 'A page of corrections, or a zip of them',
          content: {
            'application/json': { schema: FeedbackList, example: feedbackListExample },
            [ZIP_MEDIA_TYPE]: { schema: z.string().meta({ format: 'binary' }) },
          },
        },
      },
      errors: ['VALIDATION_FAILED', 'UNAUTHORIZED', 'FORBIDDEN', 'RATE_LIMITED', 'INTERNAL'],
      handler: async (request) => {
        const { format, owner, heldback, cursor, limit } = parseOrThrow(listFeedbackQuerySchema, request.query, 'query');
        const filter = { ...(owner === undefined ? {} : { owner }), ...(heldback === undefined ? {} : { heldback }) };
        if (format === 'json') return { status: 200, body: await listFeedback({ ...filter, cursor, limit }, intake) };
        const zip = format === 'idx' ? await exportFeedbackIdx(filter, intake) : await exportFeedbackPng(filter, intake);
        return { status: 200, headers: { 'Cache-Control': 'no-store' }, file: { contentType: ZIP_MEDIA_TYPE, ...zip } };
      },
    },

    // --- Trainings ---
    {
      method: 'post',
      path: '/v1/trainings',
      operationId: 'createTraining',
      tags: ['trainings'],
      summary: 'Start training a new model version',
      access: 'apiKey',
      body: { kind: 'json', maxBytes: TRAINING_BODY_LIMIT_BYTES },
      request: { body: { required: true, content: { 'application/json': { schema: trainingRequestSchema.meta({ id: 'TrainingRequest' }), example: trainingRequestExample } } } },
      responses: {
        202: json(TrainingView, { ...trainingExample, status: 'queued', started_at: null, progress: null }, 'Accepted: the training is queued', z.object({ Location: z.string() })),
      },
      errors: ['VALIDATION_FAILED', 'UNSUPPORTED_MEDIA_TYPE', 'WEBHOOK_URL_REFUSED'],
      handler: async (request) => {
        const training = readTrainingRequest(request.body);
        const started = await startTraining({ owner: ownerOf(request), request: training, idempotency: idempotencyOf(request) }, intake);
        return { status: 202, headers: { ...replayed(started.replayed), Location: trainingPath(started.training.id) }, body: started.training };
      },
    },
    {
      method: 'get',
      path: '/v1/trainings/:id',
      operationId: 'getTraining',
      tags: ['trainings'],
      summary: 'Read a training: status, progress, per-epoch history',
      access: 'apiKey',
      body: none,
      request: { params: trainingIdParams },
      responses: { 200: json(TrainingView, trainingExample, 'The training') },
      errors: ['JOB_NOT_FOUND'],
      handler: async (request) => ({ status: 200, body: await getTraining(jobRef(request), intake) }),
    },
    {
      method: 'post',
      path: '/v1/trainings/:id/cancel',
      operationId: 'cancelTraining',
      tags: ['trainings'],
      summary: 'Cancel a training (it stops at the end of the current batch)',
      access: 'apiKey',
      body: none,
      request: { params: trainingIdParams },
      responses: { 200: json(TrainingView, { ...trainingExample, status: 'canceled' }, 'The training, canceled') },
      errors: ['JOB_NOT_FOUND', 'JOB_FINISHED'],
      handler: async (request) => ({ status: 200, body: await cancelTraining(jobRef(request), intake) }),
    },
    {
      method: 'get',
      path: '/v1/trainings/:id/events',
      operationId: 'streamTrainingEvents',
      tags: ['trainings'],
      summary: "The training's status changes and progress as server-sent events, until it ends",
      description: EVENT_STREAM_DESCRIPTION,
      access: 'apiKey',
      body: none,
      request: { params: trainingIdParams, headers: lastEventIdHeader },
      responses: { 200: { description: 'The event stream', content: eventStreamResponse } },
      errors: ['JOB_NOT_FOUND', 'SERVICE_UNAVAILABLE'],
      handler: async (request) => ({ status: 200, stream: await eventsOf('training', request, request.params.id!, readLastEventId(request.headers['last-event-id'])) }),
    },

    // --- Models ---
    {
      method: 'get',
      path: '/v1/models',
      operationId: 'listModels',
      tags: ['models'],
      summary: 'Every model, its versions and the active one',
      access: 'apiKey',
      body: none,
      responses: { 200: json(modelListSchema.meta({ id: 'ModelList' }), modelListExample, 'The models') },
      errors: [],
      handler: async () => ({ status: 200, body: await listModels(intake) }),
    },
    {
      method: 'get',
      path: '/v1/models/:name/:version',
      operationId: 'getModelVersion',
      tags: ['models'],
      summary: 'One model version',
      access: 'apiKey',
      body: none,
      request: { params: modelParams },
      responses: { 200: json(ModelVersionView, modelVersionExample, 'The version') },
      errors: ['VALIDATION_FAILED', 'MODEL_NOT_FOUND'],
      handler: async (request) => ({ status: 200, body: await getModel(readModelVersionRef(request.params), intake) }),
    },
    {
      method: 'get',
      path: '/v1/models/:name/:version/report',
      operationId: 'getModelReport',
      tags: ['models'],
      summary: "The version's evaluation report: accuracy, confusion, per-digit precision and recall, calibration, robustness, held-back feedback, promotion",
      description:
        "Computed when the version was registered by a training (or by `npm run model:report`): every dataset's figures on the calibrated probabilities serving returns (MNIST test, each degradation of the robustness suite, the users' held-back corrections when there were any), the temperature and the calibration error before and after it, and why it was or was not promoted. `shadow` holds live figures while the version runs in shadow mode (SHADOW_MODEL). 404 MODEL_NOT_FOUND when the version, or a report of it, does not exist.",
      access: 'apiKey',
      body: none,
      request: { params: modelParams },
      responses: { 200: json(evaluationReportSchema.meta({ id: 'EvaluationReport' }), modelReportExample, 'The report') },
      errors: ['VALIDATION_FAILED', 'MODEL_NOT_FOUND'],
      handler: async (request) => ({ status: 200, body: await getModelReport(readModelVersionRef(request.params), { ...intake, shadowFigures: ctx.shadowFigures }) }),
    },
    ...REPORT_CHARTS.map(
      (chart): Route => ({
        method: 'get',
        path: `/v1/models/:name/:version/report/${chart}.svg`,
        operationId: `getModelReport${chart[0]!.toUpperCase()}${chart.slice(1)}Svg`,
        tags: ['models'],
        summary: REPORT_CHART_SUMMARIES[chart],
        access: 'apiKey',
        body: none,
        request: { params: modelParams, query: reportChartQuerySchema },
        responses: { 200: { description: 'An SVG image', content: { 'image/svg+xml': { schema: z.string(), example: renderReportChart(modelReportExample, chart) } } } },
        errors: ['VALIDATION_FAILED', 'MODEL_NOT_FOUND'],
        handler: async (request) => ({
          status: 200,
          text: { contentType: SVG_CONTENT_TYPE, content: await renderModelReportChart({ ...readReportChart(request.params, request.query), chart }, intake) },
        }),
      }),
    ),
    {
      // Changes the model every tenant gets: on the operator surface, behind the admin guard, not an API key.
      method: 'post',
      path: '/v1/models/:name/:version/activate',
      operationId: 'activateModelVersion',
      tags: ['models'],
      summary: 'Make this version the one that serves; workers swap it in between batches',
      description: 'Changes the model every tenant gets, so it needs the admin credentials (ADMIN_API_KEY or ADMIN_USER/ADMIN_PASSWORD) once any are configured.',
      access: 'admin',
      body: none,
      request: { params: modelParams, query: activationQuerySchema },
      responses: { 200: json(ModelVersionView, modelVersionExample, 'The version, now active') },
      errors: ['VALIDATION_FAILED', 'UNAUTHORIZED', 'FORBIDDEN', 'MODEL_NOT_FOUND', 'RATE_LIMITED', 'INTERNAL'],
      handler: async (request) => ({ status: 200, body: await activateModel(readActivation(request.params, request.query), intake) }),
    },
  ];
}
