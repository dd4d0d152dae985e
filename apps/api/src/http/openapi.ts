/**
 * The OpenAPI 3.1 document of the HTTP API, generated (zod-to-openapi) from
 * the route table: each route's path, operation, access, documented request
 * parts and answers, with an example body per error code. The schemas are
 * the zod schemas of @digitq/contracts that validate requests and type
 * responses. Served at GET /openapi.json and by Swagger UI at /docs.
 *
 * Every route the app serves is here except the two HTML UIs (/docs and
 * /admin/queues); openapi.int.test.ts compares this document with the
 * Express router.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { errorResponseSchema, type ErrorCode } from '@digitq/contracts';
import { ERROR_MESSAGE_EXAMPLES, EXAMPLE_JOB_ID } from './openapi-examples.ts';
import type { Access, DocumentedError, Route } from './route.ts';
import { ERROR_STATUS } from './status.ts';

export interface OpenApiOptions {
  /** API keys configured: /v1 and /predict need a bearer key (otherwise it is optional). */
  apiKeysEnabled: boolean;
  /** Admin credentials configured: the operator surface needs them. */
  adminEnabled: boolean;
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

type SecurityRequirement = Record<string, string[]>;

export const API_VERSION = '1.0.0';
const SECURITY = { apiKey: 'apiKey', adminKey: 'adminKey', adminBasic: 'adminBasic' } as const;

/** Every route behind an API key may answer these (the auth and rate-limit middleware, and any failure). */
const CLIENT_ROUTE_ERRORS: ErrorCode[] = ['UNAUTHORIZED', 'RATE_LIMITED', 'INTERNAL'];

/** Codes whose answer names the job concerned (`job_id`): it exists, it just did not succeed in time. */
const CODES_WITH_JOB_ID: ReadonlySet<string> = new Set(['TIMEOUT', 'JOB_CANCELED', 'JOB_FAILED']);

export const locationHeader = () => z.string().meta({ description: 'Where the job can be read', example: `/v1/jobs/${EXAMPLE_JOB_ID}` });

/** A documented JSON answer with its example. */
export function json(schema: z.ZodType, example: unknown, description: string, headers?: z.ZodObject): ResponseConfig {
  return { description, headers, content: { 'application/json': { schema, example } } };
}

/** `/v1/jobs/:id` -> `/v1/jobs/{id}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

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

export function createOpenApiDocument(routes: readonly Route[], options: OpenApiOptions): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  const ErrorResponse = errorResponseSchema.meta({ id: 'ErrorResponse', description: 'Every 4xx/5xx answer' });

  registry.registerComponent('securitySchemes', SECURITY.apiKey, {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key from API_KEYS. Jobs belong to the key that submitted them; other keys get 404 for them.',
  });
  registry.registerComponent('securitySchemes', SECURITY.adminKey, { type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' });
  registry.registerComponent('securitySchemes', SECURITY.adminBasic, { type: 'http', scheme: 'basic', description: 'ADMIN_USER and ADMIN_PASSWORD' });
  // Without API keys the API is open (and listens on loopback only): the empty requirement makes the key optional.
  const open: SecurityRequirement[] = [{}];
  const security: Record<Access, SecurityRequirement[] | undefined> = {
    public: undefined,
    apiKey: [{ [SECURITY.apiKey]: [] }, ...(options.apiKeysEnabled ? [] : open)],
    admin: [{ [SECURITY.adminKey]: [] }, { [SECURITY.adminBasic]: [] }, ...(options.adminEnabled || options.apiKeysEnabled ? [] : open)],
  };

  for (const route of routes) {
    const errors = route.access === 'apiKey' ? [...route.errors, ...CLIENT_ROUTE_ERRORS] : route.errors;
    const operation: RouteConfig = {
      method: route.method,
      path: openApiPath(route.path),
      operationId: route.operationId,
      tags: route.tags,
      summary: route.summary,
      ...(route.description === undefined ? {} : { description: route.description }),
      ...(security[route.access] === undefined ? {} : { security: security[route.access] }),
      ...(route.request === undefined ? {} : { request: route.request }),
      responses: { ...route.responses, ...errorResponses(errors, ErrorResponse) },
    };
    registry.registerPath(operation);
  }

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
      { name: 'feedback', description: "Corrections of answers: the data later versions learn from and are judged on" },
      { name: 'operations', description: 'Health, readiness, metrics, workers' },
    ],
  });
}
