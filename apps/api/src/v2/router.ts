/**
 * The Open Inference Protocol (KServe V2), REST: its endpoints as one small
 * route list over digitq's use cases, and the Express router that mounts it
 * (app.ts mounts the router ahead of the /v1 API-key middleware, so every
 * answer under /v2, a refused key included, has the protocol's error shape).
 *
 * Health endpoints need no API key (they are probes, like /healthz and
 * /readyz); every other /v2 path, an unknown one included, goes through
 * API-key auth and the per-key rate limit exactly as /v1 does. The infer
 * endpoint is admitted (backpressure) and bounded (MAX_REQUEST_BYTES, the
 * upload budget) before its body is read.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Router, type RequestHandler } from 'express';
import { readinessProblems, type ReadinessDeps } from '../readiness.ts';
import { API_VERSION } from '../http/openapi.ts';
import { authenticate, type ApiKeyring } from '../middleware/auth.ts';
import { boundedBody, readBodyBytes } from '../middleware/body.ts';
import { ownerOf } from '../middleware/owner.ts';
import { perOwnerRateLimit, type RateLimitOptions } from '../middleware/rate-limit.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { INFERENCE_HEADER_CONTENT_LENGTH } from './binary.ts';
import { v2ErrorHandler, v2RouteNotFound } from './errors.ts';
import { infer } from './infer.ts';
import { findModel, modelMetadata, modelReady } from './models.ts';
import { decodeInferRequest } from './request.ts';

export const SERVER_NAME = 'digitq';
/** Extensions named as Triton names them in its server metadata ("binary_tensor_data", "classification"). */
export const SERVER_EXTENSIONS = ['binary_tensor_data', 'classification'] as const;

const OK = 200;
/** Not ready: a probe must see a failure status (Kubernetes counts 200-399 as success), as /readyz answers. */
const NOT_READY = 503;

export interface V2Deps {
  intake: IntakeDeps;
  readiness: ReadinessDeps;
  keyring: ApiKeyring;
  /** The per-key rate limit (RATE_LIMIT_PER_S); null: none. */
  rateLimit: RateLimitOptions | null;
  /** Backpressure before an inference body is read (429 QUEUE_FULL). */
  admit: RequestHandler;
  uploads: UploadBudget;
  /** MAX_REQUEST_BYTES: the largest inference body, JSON and binary data together. */
  maxRequestBytes: number;
  /** MAX_IMAGES_PER_JOB: the largest batch dimension of a request. */
  maxImagesPerJob: number;
}

interface V2Request {
  params: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** The API key's owner on `apiKey` routes. */
  owner: string | null;
  /** The raw body of a route that reads one. */
  body: Buffer | null;
}

type V2Answer = { status: number; json: unknown } | { status: number; bytes: Buffer; headers: Record<string, string> };

interface V2Route {
  method: 'get' | 'post';
  /** Express paths; each model path also exists with /versions/:version. */
  paths: string[];
  access: 'public' | 'apiKey';
  readsBody: boolean;
  handler: (request: V2Request) => Promise<V2Answer>;
}

const MODEL = '/v2/models/:name';
const MODEL_VERSION = '/v2/models/:name/versions/:version';

function versionOf(request: V2Request): string | null {
  return request.params.version ?? null;
}

export function createV2Routes(deps: V2Deps): V2Route[] {
  const { intake } = deps;
  return [
    {
      method: 'get',
      paths: ['/v2/health/live'],
      access: 'public',
      readsBody: false,
      // Answering at all is being live ("able to receive and respond to metadata and inference requests").
      handler: async () => ({ status: OK, json: { live: true } }),
    },
    {
      method: 'get',
      paths: ['/v2/health/ready'],
      access: 'public',
      readsBody: false,
      handler: async () => {
        const ready = (await readinessProblems(deps.readiness)).length === 0;
        // inference_rest.md gives $ready_server_response as { "live": $bool } (KServe's servers answer "ready"): both are sent.
        return { status: ready ? OK : NOT_READY, json: { live: true, ready } };
      },
    },
    {
      method: 'get',
      paths: ['/v2'],
      access: 'apiKey',
      readsBody: false,
      handler: async () => ({ status: OK, json: { name: SERVER_NAME, version: API_VERSION, extensions: SERVER_EXTENSIONS } }),
    },
    {
      method: 'get',
      paths: [MODEL, MODEL_VERSION],
      access: 'apiKey',
      readsBody: false,
      handler: async (request) => {
        const model = await findModel(request.params.name!, versionOf(request), intake);
        return { status: OK, json: await modelMetadata(model, intake) };
      },
    },
    {
      method: 'get',
      paths: [`${MODEL}/ready`, `${MODEL_VERSION}/ready`],
      access: 'apiKey',
      readsBody: false,
      handler: async (request) => {
        const model = await findModel(request.params.name!, versionOf(request), intake);
        const ready = await modelReady(model, intake);
        return { status: ready ? OK : NOT_READY, json: { name: model.name, ready } };
      },
    },
    {
      method: 'post',
      paths: [`${MODEL}/infer`, `${MODEL_VERSION}/infer`],
      access: 'apiKey',
      readsBody: true,
      handler: async (request) => {
        const model = await findModel(request.params.name!, versionOf(request), intake);
        const header = request.headers[INFERENCE_HEADER_CONTENT_LENGTH];
        const decoded = decodeInferRequest(request.body ?? Buffer.alloc(0), Array.isArray(header) ? header[0] : header, deps.maxImagesPerJob);
        const answer = await infer(model, decoded, request.owner!, intake);
        return answer.kind === 'json' ? { status: OK, json: answer.body } : { status: OK, bytes: answer.body, headers: answer.headers };
      },
    },
  ];
}

function expressHandler(route: V2Route, deps: V2Deps): RequestHandler[] {
  const body = route.readsBody ? [boundedBody(deps.maxRequestBytes), deps.admit, reserveUploadBudget(deps.uploads, deps.maxRequestBytes)] : [];
  const handle: RequestHandler = (req, res, next) => {
    const read = route.readsBody ? readBodyBytes(req, deps.maxRequestBytes) : Promise.resolve(null);
    read
      .then((bytes) =>
        route.handler({
          params: req.params as Record<string, string>,
          headers: req.headers,
          owner: route.access === 'apiKey' ? ownerOf(res) : null,
          body: bytes,
        }),
      )
      .then((answer) => {
        if ('json' in answer) {
          res.status(answer.status).json(answer.json);
          return;
        }
        for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
        res.status(answer.status).end(answer.bytes);
      })
      .catch(next);
  };
  return [...body, handle];
}

/** The V2 endpoints, their auth, and a 404 in the protocol's shape for any other /v2 path. */
export function v2Router(deps: V2Deps): Router {
  const routes = createV2Routes(deps);
  const router = Router();
  const mount = (access: V2Route['access']) => {
    for (const route of routes.filter((r) => r.access === access)) {
      for (const path of route.paths) router[route.method](path, ...expressHandler(route, deps));
    }
  };
  mount('public');
  router.use('/v2', authenticate(deps.keyring));
  if (deps.rateLimit) router.use('/v2', perOwnerRateLimit(deps.rateLimit));
  mount('apiKey');
  router.use('/v2', v2RouteNotFound());
  router.use('/v2', v2ErrorHandler());
  return router;
}
