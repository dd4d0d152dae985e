/**
 * The OpenAPI 3.1 document of the HTTP API, generated (zod-to-openapi) from
 * the same zod schemas that validate requests and type responses in
 * @digitq/contracts. Served at GET /openapi.json and by Swagger UI at /docs.
 *
 * Every route the app serves is here except the two HTML UIs (/docs and
 * /admin/queues); openapi.int.test.ts compares this document with the
 * Express router, so a new route without documentation fails the tests.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  createJobFieldsSchema,
  createJobJsonBodySchema,
  errorResponseSchema,
  healthResponseSchema,
  jobListSchema,
  jobViewSchema,
  listJobsQuerySchema,
  modelListSchema,
  modelNameSchema,
  modelVersionSchema,
  modelVersionViewSchema,
  notReadyResponseSchema,
  predictFieldsSchema,
  predictResponseSchema,
  readyResponseSchema,
  trainingRequestSchema,
  trainingViewSchema,
  webhookAttemptListSchema,
  workerListSchema,
  type ErrorCode,
} from '@digitq/contracts';
import { MAX_PREFER_WAIT_S } from '../http/prefer.ts';
import { ERROR_STATUS, jobFailureStatus } from '../http/status.ts';
import {
  ERROR_MESSAGE_EXAMPLES,
  EXAMPLE_IMAGE_BASE64,
  EXAMPLE_JOB_ID,
  canceledJobExample,
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
} from './examples.ts';

export interface OpenApiOptions {
  /** API keys configured: /v1 and /predict need a bearer key (otherwise it is optional). */
  apiKeysEnabled: boolean;
  /** Admin credentials configured: /metrics needs them. */
  adminEnabled: boolean;
  maxImagesPerJob: number;
  maxImageBytes: number;
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

type SecurityRequirement = Record<string, string[]>;

const API_VERSION = '1.0.0';
const SECURITY = { apiKey: 'apiKey', adminKey: 'adminKey', adminBasic: 'adminBasic' } as const;

/** A failed job's own codes, answered by POST /predict when the job it waited on failed. */
type JobFailureCode = 'JOB_CANCELED' | 'JOB_FAILED';
type DocumentedError = ErrorCode | { code: JobFailureCode; status: number };
const JOB_FAILURES: DocumentedError[] = (['JOB_CANCELED', 'JOB_FAILED'] as const).map((code) => ({ code, status: jobFailureStatus(code) }));

const IMAGE_ERRORS: ErrorCode[] = ['IMAGE_TOO_LARGE', 'IMAGE_TOO_MANY_PIXELS', 'IMAGE_UNSUPPORTED_FORMAT', 'IMAGE_CORRUPT', 'IMAGE_BLANK', 'IMAGE_EMPTY_INPUT', 'IMAGE_TIMEOUT'];
/** Every authenticated route may answer these. */
const CLIENT_ROUTE_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL'];

/** Codes whose answer names the job concerned (`job_id`): it exists, it just did not succeed in time. */
const CODES_WITH_JOB_ID: ReadonlySet<string> = new Set(['TIMEOUT', 'JOB_CANCELED', 'JOB_FAILED']);

const locationHeader = () => z.string().meta({ description: 'Where the job can be read', example: `/v1/jobs/${EXAMPLE_JOB_ID}` });

function codeOf(error: DocumentedError): string {
  return typeof error === 'string' ? error : error.code;
}

function statusOf(error: DocumentedError): number {
  return typeof error === 'string' ? ERROR_STATUS[error] : error.status;
}

function headersFor(status: number): z.ZodObject | undefined {
  if (status === ERROR_STATUS.UNAUTHORIZED) {
    return z.object({ 'WWW-Authenticate': z.string().meta({ description: 'The authentication scheme to use', example: 'Bearer realm="digitq"' }) });
  }
  if (status === ERROR_STATUS.RATE_LIMITED) {
    return z.object({
      'Retry-After': z.string().meta({ description: 'Seconds to wait before retrying', example: '5' }),
      RateLimit: z.string().optional().meta({ description: 'RATE_LIMITED only: the remaining budget (IETF draft 8)', example: '"20-in-1sec"; r=0; t=1' }),
    });
  }
  if (status === ERROR_STATUS.TIMEOUT) return z.object({ Location: locationHeader() });
  return undefined;
}

/** Error responses grouped by status, each code with an example body. */
function errorResponses(errors: readonly DocumentedError[], schema: z.ZodType): Record<number, ResponseConfig> {
  const byStatus = new Map<number, string[]>();
  for (const error of errors) {
    const codes = byStatus.get(statusOf(error)) ?? [];
    if (!codes.includes(codeOf(error))) byStatus.set(statusOf(error), [...codes, codeOf(error)]);
  }
  const responses: Record<number, ResponseConfig> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const examples = Object.fromEntries(
      codes.map((code) => {
        const message = ERROR_MESSAGE_EXAMPLES[code as keyof typeof ERROR_MESSAGE_EXAMPLES];
        const withJob = CODES_WITH_JOB_ID.has(code) ? { job_id: EXAMPLE_JOB_ID } : {};
        return [code, { summary: code, value: { error: { code, message }, ...withJob } }];
      }),
    );
    responses[status] = {
      description: `Error: ${codes.join(', ')}`,
      headers: headersFor(status),
      content: { 'application/json': { schema, examples } },
    };
  }
  return responses;
}

function json(schema: z.ZodType, example: unknown, description: string, headers?: z.ZodObject): ResponseConfig {
  return { description, headers, content: { 'application/json': { schema, example } } };
}

export function createOpenApiDocument(options: OpenApiOptions): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  // Named components. Nested schemas are inlined (zod-to-openapi only references schemas named where they are defined).
  const JobView = jobViewSchema.meta({ id: 'JobView', description: 'An inference job as clients see it' });
  const ErrorResponse = errorResponseSchema.meta({ id: 'ErrorResponse', description: 'Every 4xx/5xx answer' });
  const errors = (...codes: DocumentedError[]) => errorResponses(codes, ErrorResponse);
  const clientErrors = (...codes: DocumentedError[]) => errorResponses([...codes, ...CLIENT_ROUTE_ERRORS], ErrorResponse);

  registry.registerComponent('securitySchemes', SECURITY.apiKey, {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key from API_KEYS. Jobs belong to the key that submitted them; other keys get 404 for them.',
  });
  registry.registerComponent('securitySchemes', SECURITY.adminKey, { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' });
  registry.registerComponent('securitySchemes', SECURITY.adminBasic, { type: 'http', scheme: 'basic', description: 'ADMIN_USER and ADMIN_PASSWORD' });
  // Without API keys the API is open (and listens on loopback only): the empty requirement makes the key optional.
  const open: SecurityRequirement[] = [{}];
  const clientSecurity: SecurityRequirement[] = [{ [SECURITY.apiKey]: [] }, ...(options.apiKeysEnabled ? [] : open)];
  const adminSecurity: SecurityRequirement[] = [{ [SECURITY.adminKey]: [] }, { [SECURITY.adminBasic]: [] }, ...(options.adminEnabled || options.apiKeysEnabled ? [] : open)];

  /** A route for API-key holders; its responses list its errors with clientErrors (which adds 401, 429 and 500). */
  const client = (route: RouteConfig): RouteConfig => ({ ...route, security: clientSecurity });

  const binaryFile = z.string().meta({ format: 'binary' });
  const jobIdParams = z.object({ id: z.string().meta({ description: 'The job id (a UUID)', example: EXAMPLE_JOB_ID }) });
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

  // --- Operations surface (no API key) ---
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tags: ['operations'],
    summary: 'Liveness: the process serves HTTP',
    responses: { 200: json(healthResponseSchema, { status: 'ok' }, 'Alive') },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tags: ['operations'],
    summary: 'Readiness: Redis answers and a worker with a loaded model reported recently',
    description: 'For load balancers and orchestrators: take the instance out of rotation while this is 503.',
    responses: {
      200: json(readyResponseSchema, { status: 'ready' }, 'Ready to serve predictions'),
      503: json(notReadyResponseSchema, notReadyExample, 'Not ready, with the reasons'),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tags: ['operations'],
    summary: 'This document',
    responses: {
      200: {
        description: 'The OpenAPI 3.1 document',
        content: { 'application/json': { schema: { type: 'object' }, example: { openapi: '3.1.0', info: { title: 'digitq', version: API_VERSION }, paths: {} } } },
      },
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics of this API instance',
    description:
      'HTTP requests by route pattern and status, queue depth per state, live workers and the model versions they serve. Job timings and webhook deliveries are measured by the workers (their --metrics-port).',
    security: adminSecurity,
    responses: {
      200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' }, example: metricsExample } } },
      ...errors('UNAUTHORIZED', 'FORBIDDEN'),
    },
  });

  // --- Predictions and jobs ---
  registry.registerPath(
    client({
      method: 'post',
      path: '/predict',
      operationId: 'predict',
      tags: ['predict'],
      summary: 'Classify one image and wait for the answer',
      description:
        'Submits a one-image job and waits for it (PREDICT_TIMEOUT_MS). A slow job answers 504 with its Location, where the result can be read later. Refused with 429 QUEUE_FULL while the queue is full.',
      request: {
        body: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: z.object({
                file: binaryFile.meta({ description: `The image (PNG, JPEG, GIF, WebP, BMP or TIFF; at most ${options.maxImageBytes} bytes). The field may also be named \`image\`.` }),
                ...predictFieldsSchema.shape,
              }),
            },
          },
        },
      },
      responses: {
        200: json(predictResponseSchema.meta({ id: 'PredictResponse' }), predictExample, 'The digit, its confidence, and the model that read it'),
        ...clientErrors('VALIDATION_FAILED', 'NO_IMAGE', 'TOO_MANY_IMAGES', 'MODEL_NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'QUEUE_FULL', 'TIMEOUT', ...IMAGE_ERRORS, ...JOB_FAILURES),
      },
    }),
  );

  registry.registerPath(
    client({
      method: 'post',
      path: '/v1/jobs',
      operationId: 'createJob',
      tags: ['jobs'],
      summary: 'Submit a batch of images',
      description: `Up to ${options.maxImagesPerJob} images per job, as multipart/form-data (repeated \`image\` file fields) or JSON (base64). Answers 202 with the queued job, or 200 with the finished job when \`Prefer: wait\` was enough. Refused with 429 QUEUE_FULL while the queue is full.`,
      request: {
        headers: z.object({ ...idempotencyHeader.shape, ...preferHeader.shape }),
        body: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: z.object({
                image: z
                  .array(binaryFile)
                  .min(1)
                  .max(options.maxImagesPerJob)
                  .meta({ description: `The images, one file part each (at most ${options.maxImageBytes} bytes per image)` }),
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
        200: json(JobView, succeededJobExample, 'The job finished within the `Prefer: wait` time', z.object({ Location: locationHeader() })),
        ...clientErrors(
          'VALIDATION_FAILED',
          'NO_IMAGE',
          'TOO_MANY_IMAGES',
          'IDEMPOTENCY_CONFLICT',
          'PAYLOAD_TOO_LARGE',
          'UNSUPPORTED_MEDIA_TYPE',
          'WEBHOOK_URL_REFUSED',
          'QUEUE_FULL',
          ...IMAGE_ERRORS,
        ),
      },
    }),
  );

  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/jobs',
      operationId: 'listJobs',
      tags: ['jobs'],
      summary: "List this key's jobs, newest first",
      request: { query: listJobsQuerySchema },
      responses: { 200: json(jobListSchema.meta({ id: 'JobList' }), jobListExample, 'A page of jobs'), ...clientErrors('VALIDATION_FAILED') },
    }),
  );

  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/jobs/{id}',
      operationId: 'getJob',
      tags: ['jobs'],
      summary: 'Read a job',
      request: { params: jobIdParams, headers: preferHeader },
      responses: { 200: json(JobView, succeededJobExample, 'The job'), ...clientErrors('JOB_NOT_FOUND') },
    }),
  );

  registry.registerPath(
    client({
      method: 'post',
      path: '/v1/jobs/{id}/cancel',
      operationId: 'cancelJob',
      tags: ['jobs'],
      summary: 'Cancel a queued or running job',
      request: { params: jobIdParams },
      responses: { 200: json(JobView, canceledJobExample, 'The job, canceled'), ...clientErrors('JOB_NOT_FOUND', 'JOB_FINISHED') },
    }),
  );

  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/jobs/{id}/webhooks',
      operationId: 'listJobWebhookAttempts',
      tags: ['jobs'],
      summary: "The job's webhook delivery attempts, oldest first",
      request: { params: jobIdParams },
      responses: { 200: json(webhookAttemptListSchema.meta({ id: 'WebhookAttemptList' }), webhookAttemptsExample, 'Delivery attempts'), ...clientErrors('JOB_NOT_FOUND') },
    }),
  );

  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/workers',
      operationId: 'listWorkers',
      tags: ['operations'],
      summary: 'Live workers and the model versions they have loaded',
      responses: { 200: json(workerListSchema.meta({ id: 'WorkerList' }), workerListExample, 'Workers whose heartbeat is current'), ...clientErrors() },
    }),
  );

  registerTrainings(registry, client, clientErrors);
  registerModels(registry, client, clientErrors, adminSecurity);

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'digitq',
      version: API_VERSION,
      description:
        'Handwritten-digit recognition as a job queue. Submit images to `POST /v1/jobs` (or `POST /predict` for one image, synchronously); workers running TensorFlow.js classify them. Every answer carries an `X-Request-Id`.',
    },
    tags: [
      { name: 'predict', description: 'One image, one answer' },
      { name: 'jobs', description: 'Batches of images as jobs' },
      { name: 'trainings', description: 'Train new model versions' },
      { name: 'models', description: 'Model versions and which one serves' },
      { name: 'operations', description: 'Health, readiness, metrics, workers' },
    ],
  });
}

type Errors = (...codes: DocumentedError[]) => Record<number, ResponseConfig>;

function registerTrainings(registry: OpenAPIRegistry, client: (route: RouteConfig) => RouteConfig, clientErrors: Errors): void {
  const TrainingView = trainingViewSchema.meta({ id: 'TrainingView', description: 'A training job' });
  const params = z.object({ id: z.string().meta({ description: 'The training id (a UUID)', example: trainingExample.id }) });
  registry.registerPath(
    client({
      method: 'post',
      path: '/v1/trainings',
      operationId: 'createTraining',
      tags: ['trainings'],
      summary: 'Start training a new model version',
      request: { body: { required: true, content: { 'application/json': { schema: trainingRequestSchema.meta({ id: 'TrainingRequest' }), example: trainingRequestExample } } } },
      responses: {
        202: json(TrainingView, { ...trainingExample, status: 'queued', started_at: null, progress: null }, 'Accepted: the training is queued', z.object({ Location: z.string() })),
        ...clientErrors('VALIDATION_FAILED', 'UNSUPPORTED_MEDIA_TYPE', 'WEBHOOK_URL_REFUSED'),
      },
    }),
  );
  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/trainings/{id}',
      operationId: 'getTraining',
      tags: ['trainings'],
      summary: 'Read a training: status, progress, per-epoch history',
      request: { params },
      responses: { 200: json(TrainingView, trainingExample, 'The training'), ...clientErrors('JOB_NOT_FOUND') },
    }),
  );
  registry.registerPath(
    client({
      method: 'post',
      path: '/v1/trainings/{id}/cancel',
      operationId: 'cancelTraining',
      tags: ['trainings'],
      summary: 'Cancel a training (it stops at the end of the current batch)',
      request: { params },
      responses: { 200: json(TrainingView, { ...trainingExample, status: 'canceled' }, 'The training, canceled'), ...clientErrors('JOB_NOT_FOUND', 'JOB_FINISHED') },
    }),
  );
}

function registerModels(registry: OpenAPIRegistry, client: (route: RouteConfig) => RouteConfig, clientErrors: Errors, adminSecurity: SecurityRequirement[]): void {
  const ModelVersionView = modelVersionViewSchema.meta({ id: 'ModelVersion', description: 'A model version: its training, metrics and whether it serves' });
  const params = z.object({
    name: modelNameSchema.meta({ example: 'digitnet' }),
    version: modelVersionSchema.meta({ example: 'v3' }),
  });
  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/models',
      operationId: 'listModels',
      tags: ['models'],
      summary: 'Every model, its versions and the active one',
      responses: { 200: json(modelListSchema.meta({ id: 'ModelList' }), modelListExample, 'The models'), ...clientErrors() },
    }),
  );
  registry.registerPath(
    client({
      method: 'get',
      path: '/v1/models/{name}/{version}',
      operationId: 'getModelVersion',
      tags: ['models'],
      summary: 'One model version',
      request: { params },
      responses: { 200: json(ModelVersionView, modelVersionExample, 'The version'), ...clientErrors('VALIDATION_FAILED', 'MODEL_NOT_FOUND') },
    }),
  );
  registry.registerPath({
    method: 'post',
    path: '/v1/models/{name}/{version}/activate',
    operationId: 'activateModelVersion',
    tags: ['models'],
    summary: 'Make this version the one that serves; workers swap it in between batches',
    description: 'Changes the model every tenant gets, so it needs the admin credentials (ADMIN_API_KEY or ADMIN_USER/ADMIN_PASSWORD) once any are configured.',
    security: adminSecurity,
    request: { params },
    responses: {
      200: json(ModelVersionView, modelVersionExample, 'The version, now active'),
      ...clientErrors('VALIDATION_FAILED', 'UNAUTHORIZED', 'FORBIDDEN', 'MODEL_NOT_FOUND'),
    },
  });
}
