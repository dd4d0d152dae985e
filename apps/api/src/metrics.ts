/**
 * The API's Prometheus metrics (prom-client), served at GET /metrics:
 *
 * - digitq_http_requests_total, digitq_http_request_duration_seconds:
 *   by method, route pattern (`/v1/jobs/:id`, never the raw URL) and status;
 * - digitq_http_rejections_total: work refused for lack of capacity, by
 *   status and error code: 429 QUEUE_FULL / RATE_LIMITED, 503
 *   SERVICE_UNAVAILABLE (Redis unreachable, uploads or streams at capacity);
 * - digitq_queue_jobs: jobs per queue and BullMQ state, read at scrape time;
 * - digitq_workers_live, digitq_model_workers: live workers per queue and
 *   per loaded model version, from the worker heartbeats;
 * - digitq_redis_up.
 *
 * Per-job timings (processing, wait, batch sizes) and webhook delivery
 * outcomes are measured where they happen, in the workers (their
 * --metrics-port). Each app gets its own Registry (no global state).
 */
import type { Queue } from 'bullmq';
import type { Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WorkerHeartbeat } from '@digitq/contracts';
import { listLiveWorkers } from '@digitq/jobs';
import { cachedValue } from './cached-value.ts';
import { withTimeout } from './with-timeout.ts';

/** A scrape gives up on Redis after this long rather than hang the scraper. */
const COLLECT_TIMEOUT_MS = 2000;
/** The two worker gauges of one scrape share one read of the heartbeats. */
const HEARTBEAT_READ_CACHE_MS = 1000;
const UNMATCHED_ROUTE = '(unmatched)';
const NS_PER_S = 1e9;
const HTTP_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Statuses that refuse work for lack of capacity (the client should retry later), counted apart. */
const REJECTION_STATUSES: ReadonlySet<number> = new Set([429, 503]);

declare global {
  namespace Express {
    interface Locals {
      /** The route label of a mounted sub-app (bull-board, Swagger UI), whose own routes would explode the label set. */
      metricsRoute?: string;
      /** The error code an error handler answered with (`{"error": {"code"}}`), for digitq_http_rejections_total. */
      errorCode?: string;
    }
  }
}

export interface ApiMetricsDeps {
  /** Default: a fresh Registry. main.ts passes one with the Node.js default metrics. */
  registry?: Registry;
  queues: readonly Queue[];
  redis: Redis;
  prefix: string;
}

export interface ApiMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpSeconds: Histogram<'method' | 'route' | 'status'>;
  httpRejections: Counter<'status' | 'code'>;
}

function redisUp(redis: Redis): boolean {
  return redis.status === 'ready';
}

export function createApiMetrics(deps: ApiMetricsDeps): ApiMetrics {
  const registry = deps.registry ?? new Registry();
  const registers = [registry];
  const liveWorkers = cachedValue(
    () => (redisUp(deps.redis) ? withTimeout(listLiveWorkers(deps.redis, deps.prefix), COLLECT_TIMEOUT_MS, 'worker heartbeats') : Promise.resolve(null)),
    HEARTBEAT_READ_CACHE_MS,
  );
  const readWorkers = (): Promise<WorkerHeartbeat[] | null> => liveWorkers().catch(() => null);

  new Gauge({
    name: 'digitq_redis_up',
    help: 'Whether the API is connected to Redis (1) or not (0)',
    registers,
    // Several API processes (API_PROCESSES): 0 if any of them is not connected.
    aggregator: 'min',
    collect() {
      this.set(redisUp(deps.redis) ? 1 : 0);
    },
  });

  new Gauge({
    name: 'digitq_queue_jobs',
    help: 'Jobs per queue and state (waiting, prioritized, delayed, active, completed, failed, paused, waiting-children), at scrape time',
    labelNames: ['queue', 'state'] as const,
    registers,
    // Read from Redis: every API process reads the same numbers.
    aggregator: 'max',
    async collect() {
      this.reset();
      if (!redisUp(deps.redis)) return;
      const counts = await Promise.all(
        deps.queues.map((queue) => withTimeout(queue.getJobCounts(), COLLECT_TIMEOUT_MS, `job counts of ${queue.name}`).catch(() => null)),
      );
      deps.queues.forEach((queue, i) => {
        for (const [state, count] of Object.entries(counts[i] ?? {})) this.set({ queue: queue.name, state }, count);
      });
    },
  });

  new Gauge({
    name: 'digitq_workers_live',
    help: 'Workers whose heartbeat is current, per queue they consume',
    labelNames: ['queue'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      const workers = await readWorkers();
      for (const queue of deps.queues) {
        if (workers) this.set({ queue: queue.name }, workers.filter((w) => w.queues.includes(queue.name)).length);
      }
    },
  });

  new Gauge({
    name: 'digitq_model_workers',
    help: 'Live workers with this model version loaded (the versions being served)',
    labelNames: ['model', 'version'] as const,
    registers,
    aggregator: 'max',
    async collect() {
      this.reset();
      for (const worker of (await readWorkers()) ?? []) {
        for (const model of worker.models) this.inc({ model: model.name, version: model.version });
      }
    },
  });

  return {
    registry,
    httpRequests: new Counter({
      name: 'digitq_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpSeconds: new Histogram({
      name: 'digitq_http_request_duration_seconds',
      help: 'From request to the end of the answer, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_SECONDS_BUCKETS,
      registers,
    }),
    httpRejections: new Counter({
      name: 'digitq_http_rejections_total',
      help: 'Requests refused for lack of capacity, by status (429, 503) and error code (QUEUE_FULL, RATE_LIMITED, SERVICE_UNAVAILABLE)',
      labelNames: ['status', 'code'] as const,
      registers,
    }),
  };
}

/** Counts and times every answer under its route pattern. Mount first, before anything that may answer. */
export function httpMetrics(metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { method: req.method, route: routeLabel(req, res), status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpSeconds.observe(labels, Number(process.hrtime.bigint() - started) / NS_PER_S);
      // Only error answers: a 503 from /readyz reports, it refuses no work.
      const code = res.locals.errorCode;
      if (REJECTION_STATUSES.has(res.statusCode) && code !== undefined) metrics.httpRejections.inc({ status: labels.status, code });
    });
    next();
  };
}

/** The route pattern a request matched (`/v1/jobs/:id`), its mount's label, or `(unmatched)`: never the raw URL. */
export function routeLabel(req: Request, res: Response): string {
  return res.locals.metricsRoute ?? (req.route ? `${req.baseUrl}${String(req.route.path)}` : UNMATCHED_ROUTE);
}

/** Labels every request under this mount point with `route`. */
export function labelRoute(route: string): RequestHandler {
  return (_req, res, next) => {
    res.locals.metricsRoute = route;
    next();
  };
}
