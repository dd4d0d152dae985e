/**
 * The load generator: autocannon, used the same way for the ceilings and for
 * digitq so their ratios compare like with like. Every response's latency is
 * kept (a 10 s run is tens of thousands of numbers), so percentiles are exact
 * and runs against several API processes pool into one distribution.
 */
import autocannon from 'autocannon';
import { percentile, round } from './stats.ts';

/** A request body sent unchanged on every request. */
export interface RequestBody {
  bytes: Buffer<ArrayBuffer>;
  contentType: string;
  /** Headers the body needs (the binary tensor extension's Inference-Header-Content-Length). */
  headers?: Record<string, string>;
}

export interface LoadSpec {
  /** One URL per API process; connections are spread over them. */
  urls: string[];
  body: RequestBody;
  /** Extra request headers, e.g. `Prefer`. */
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  seconds: number;
  /** Responses with a 2xx status. */
  ok: number;
  req_per_s: number;
  /** Latency of 2xx responses, ms. */
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Non-2xx responses plus socket errors and timeouts. */
  errors: number;
  non2xx: number;
  socket_errors: number;
  timeouts: number;
  /** Status code -> count, for the non-2xx ones. */
  error_statuses: Record<string, number>;
}

/** A request still unanswered after this is an error: /predict itself gives up after PREDICT_TIMEOUT_MS (30 s). */
const REQUEST_TIMEOUT_S = 30;
const HTTP_OK_MIN = 200;
const HTTP_OK_MAX = 299;

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies: number[] = [];
  const errorStatuses: Record<string, number> = {};
  const instance = autocannon({
    url: spec.urls.length === 1 ? spec.urls[0]! : spec.urls,
    connections: spec.connections,
    duration: spec.seconds,
    timeout: REQUEST_TIMEOUT_S,
    method: 'POST',
    headers: { 'content-type': spec.body.contentType, ...spec.body.headers, ...spec.headers },
    body: spec.body.bytes,
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    if (status >= HTTP_OK_MIN && status <= HTTP_OK_MAX) latencies.push(ms);
    else errorStatuses[status] = (errorStatuses[status] ?? 0) + 1;
  });
  const result = await instance;
  latencies.sort((a, b) => a - b);
  const ok = latencies.length;
  const socketErrors = result.errors - result.timeouts;
  return {
    seconds: result.duration,
    ok,
    req_per_s: round(ok / result.duration),
    p50_ms: round(percentile(latencies, 50), 2),
    p95_ms: round(percentile(latencies, 95), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    max_ms: round(latencies.at(-1) ?? Number.NaN, 2),
    errors: result.non2xx + result.errors,
    non2xx: result.non2xx,
    socket_errors: socketErrors,
    timeouts: result.timeouts,
    error_statuses: errorStatuses,
  };
}
