/**
 * digitq as the system under test: its configurations (a declarative table),
 * starting one as `npm start` would but with explicit processes and
 * settings, checking it answers correctly, and what is read from outside
 * (worker metrics, RSS) while it runs.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { configSchema } from '@digitq/config';
import { QUEUE_NAMES } from '@digitq/contracts';
import { freePort } from '@digitq/service';
import { engineLabel } from '../ceilings/engine.ts';
import { BENCH_DIGIT, IMAGE_KINDS, IMAGES_PER_JOB, type ImageKind, type Upload } from './images.ts';
import type { RequestBody } from './load.ts';
import { ROOT, processCommand, startChild, waitUntil, type Child, type ProcessKind } from './processes.ts';
import type { BodyName, ScenarioName, Target } from './scenarios.ts';

export interface SystemConfig {
  name: string;
  description: string;
  apiProcesses: number;
  workers: number;
  /** digitq settings beyond the benchmark's own (see systemEnv). */
  env: Record<string, string>;
  scenarios: ScenarioName[];
  /** Also drain a backlog of jobs through the worker and watch its memory (the 100k-prediction check). */
  drain?: boolean;
  /** Run the API and worker under `node --cpu-prof` and summarise where their time went in each scenario (one shorter repeat each). */
  profile?: boolean;
}

/**
 * What the benchmark runs. More than one API process is started as digitq
 * offers it: API_PROCESSES=N (node:cluster, one port) where the config knows
 * that setting, else N processes on N ports with the connections spread over
 * them (the same, seen from outside).
 */
export const SYSTEM_CONFIGS: readonly SystemConfig[] = [
  {
    name: 'base',
    description: '1 API, 1 worker, default batching',
    apiProcesses: 1,
    workers: 1,
    env: {},
    scenarios: ['sync-small', 'sync-drawing', 'sync-photo', 'v2-small', 'async-small', 'async-32', 'single-client'],
    drain: true,
  },
  { name: 'no-batching', description: '1 API, 1 worker, BATCH_MAX_SIZE=1', apiProcesses: 1, workers: 1, env: { BATCH_MAX_SIZE: '1' }, scenarios: ['sync-small'] },
  { name: '2-workers', description: '1 API, 2 worker processes', apiProcesses: 1, workers: 2, env: {}, scenarios: ['sync-small'] },
  { name: '2-apis', description: '2 API processes, 1 worker', apiProcesses: 2, workers: 1, env: {}, scenarios: ['sync-small'] },
  { name: 'profile', description: 'as base, API and worker under node --cpu-prof', apiProcesses: 1, workers: 1, env: {}, scenarios: ['sync-small', 'sync-drawing'], profile: true },
];

const READY_TIMEOUT_MS = 180_000;
const CHECK_WAIT_S = 30;
/** No submit is ever refused for a full queue during a run (the setting's largest value). */
const MAX_QUEUED_JOBS_UNLIMITED = '100000000';
const WEBHOOK_SECRET_BYTES = 24;
const BACKLOG_CLEAR_TIMEOUT_MS = 120_000;
/** A worker busy with a batch answers /metrics late; much later means something is wrong. */
const METRICS_TIMEOUT_MS = 30_000;

async function metricsText(url: string): Promise<string> {
  return (await fetch(url, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) })).text();
}

/**
 * The environment of digitq's processes: this process's environment without
 * any digitq setting (a stray BATCH_MAX_SIZE in the shell must not change
 * what is measured), then the benchmark's settings, then the configuration's.
 */
export function systemEnv(base: Record<string, string>, config: SystemConfig): Record<string, string> {
  const settings = new Set(Object.keys(configSchema.shape));
  const inherited = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => !settings.has(entry[0]) && entry[1] !== undefined));
  return { ...inherited, ...base, ...config.env };
}

export function benchSettings(redisUrl: string, prefix: string, workers: number): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    HOST: '127.0.0.1',
    MODELS_DIR: join(ROOT, 'models'),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_S: '0',
    MAX_QUEUED_JOBS: MAX_QUEUED_JOBS_UNLIMITED,
    WORKERS: String(workers),
    TRAINING_WORKERS: '0',
    // One API process per process started here unless a configuration asks for more (startSystem).
    API_PROCESSES: '1',
    // A fixed secret: the API would otherwise generate one and write it to a file.
    WEBHOOK_SECRET: `whsec_${randomBytes(WEBHOOK_SECRET_BYTES).toString('base64')}`,
    WEBHOOK_SECRET_FILE: join(tmpdir(), `digitq-bench-${process.pid}-webhook-secret`),
  };
}

/** Whether this tree's API forks its own processes (API_PROCESSES). */
export function clusteredApi(): boolean {
  return 'API_PROCESSES' in configSchema.shape;
}

export interface RunningSystem {
  config: SystemConfig;
  /** How the API processes were run, in words. */
  apiMode: string;
  env: Record<string, string>;
  apis: Child[];
  workers: Child[];
  baseUrls: string[];
  metricsUrls: string[];
  queue: Queue;
  target: Target;
  stop(): Promise<void>;
}

function startProcess(kind: ProcessKind, name: string, env: Record<string, string>, args: string[], profileDir: string | null): Child {
  const command = processCommand(kind);
  const nodeFlags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  return startChild(name, { command: command.command, args: [...nodeFlags, ...command.args] }, env, args);
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** Sum of `digitq_jobs_total{queue="inference",outcome="succeeded"}` over the workers' /metrics. */
export async function completedJobs(metricsUrls: readonly string[]): Promise<number> {
  let total = 0;
  for (const url of metricsUrls) {
    const text = await metricsText(url);
    for (const line of text.split('\n')) {
      if (line.startsWith('digitq_jobs_total{') && line.includes('queue="inference"') && line.includes('outcome="succeeded"')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** Images the workers have predicted in all: the sum of their `digitq_inference_batch_images` histograms; null if they export none. */
export async function predictedImages(metricsUrls: readonly string[]): Promise<number | null> {
  let total: number | null = null;
  for (const url of metricsUrls) {
    for (const line of (await metricsText(url)).split('\n')) {
      if (line.startsWith('digitq_inference_batch_images_sum')) total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

/** The worker's `digitq_tf_tensors` gauge (tf.memory().numTensors), or null while the worker exports none. */
export async function tfTensors(metricsUrl: string): Promise<number | null> {
  const text = await metricsText(metricsUrl);
  const line = text.split('\n').find((l) => l.startsWith('digitq_tf_tensors ') || l.startsWith('digitq_tf_tensors{'));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

interface ServingWorker {
  queues: string[];
  models: unknown[];
  /** The tfjs backend of the process. */
  backend: string;
  /** The inference engine serving its models (heartbeats carry it since workers serve through engines). */
  engine?: { engine: string; threads: number; backend: string };
}

export async function startSystem(
  config: SystemConfig,
  options: { redisUrl: string; redisPid: number; connection: Redis; prefix: string; profileDir: string | null },
): Promise<RunningSystem> {
  const env = systemEnv(benchSettings(options.redisUrl, options.prefix, config.workers), config);
  const apis: Child[] = [];
  const workers: Child[] = [];
  const baseUrls: string[] = [];
  const metricsUrls: string[] = [];
  const queue = new Queue(QUEUE_NAMES.inference, { connection: options.connection, prefix: options.prefix });
  const stop = async () => {
    await Promise.all([...apis, ...workers].map((child) => child.stop()));
    await queue.close();
  };
  try {
    for (let i = 0; i < config.workers; i++) {
      const port = await freePort();
      workers.push(startProcess('worker', `worker-${i + 1}`, env, ['--device', 'cpu', '--queues', QUEUE_NAMES.inference, '--metrics-port', String(port)], options.profileDir));
      metricsUrls.push(`http://127.0.0.1:${port}/metrics`);
    }
    const clustered = config.apiProcesses > 1 && clusteredApi();
    for (let i = 0; i < (clustered ? 1 : config.apiProcesses); i++) {
      const port = await freePort();
      const processes: Record<string, string> = clustered ? { API_PROCESSES: String(config.apiProcesses) } : {};
      apis.push(startProcess('api', `api-${i + 1}`, { ...env, ...processes, PORT: String(port) }, [], options.profileDir));
      baseUrls.push(`http://127.0.0.1:${port}`);
    }
    const alive = () => [...apis, ...workers].every((child) => child.running());
    const describe = () => [...apis, ...workers].map((child) => `--- ${child.name}:\n${child.output()}`).join('\n');
    try {
      for (const base of baseUrls) await waitUntil(`${base}/readyz`, async () => (await fetch(`${base}/readyz`)).status === 200, { timeoutMs: READY_TIMEOUT_MS, alive });
      await waitUntil(
        `${config.workers} serving worker(s)`,
        async () => {
          const { body } = await getJson(`${baseUrls[0]}/v1/workers`);
          const serving = ((body as { data?: ServingWorker[] } | null)?.data ?? []).filter((w) => w.queues.includes(QUEUE_NAMES.inference) && w.models.length > 0);
          return serving.length >= config.workers;
        },
        { timeoutMs: READY_TIMEOUT_MS, alive },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${describe()}`, { cause: error });
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const target: Target = {
    name: `digitq ${config.name}`,
    baseUrls,
    roles: { api: apis.map((c) => c.pid), worker: workers.map((c) => c.pid), redis: [options.redisPid] },
    completions: () => completedJobs(metricsUrls),
    clearBacklog: () => clearBacklog(queue),
  };
  const apiMode =
    config.apiProcesses === 1 ? '1 process' : apis.length === 1 ? `API_PROCESSES=${config.apiProcesses} (node:cluster, one port)` : `${config.apiProcesses} processes on ${config.apiProcesses} ports`;
  return { config, apiMode, env, apis, workers, baseUrls, metricsUrls, queue, target, stop };
}

/** Drops waiting jobs, then waits for the running ones. */
export async function clearBacklog(queue: Queue): Promise<void> {
  await queue.drain(true);
  await waitUntil(`${queue.name} to finish its active jobs`, async () => (await queue.getActiveCount()) === 0, { timeoutMs: BACKLOG_CLEAR_TIMEOUT_MS });
}

/** The engines digitq's workers report (GET /v1/workers), e.g. "onnxruntime (cpu, 1 thread)"; the tfjs backend for workers that report none. */
export async function workerEngines(baseUrl: string): Promise<string[]> {
  const { body } = await getJson(`${baseUrl}/v1/workers`);
  const workers = (body as { data?: ServingWorker[] } | null)?.data ?? [];
  return [...new Set(workers.map((w) => (w.engine ? engineLabel(w.engine) : `tfjs (${w.backend})`)))];
}

async function post(url: string, body: RequestBody, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': body.contentType, ...headers }, body: body.bytes });
  return { status: response.status, json: await response.json().catch(() => null) };
}

/**
 * A benchmark of wrong answers is worthless: every single-image body must
 * come back as BENCH_DIGIT, and the 32-image job as its 32 digits, before
 * anything is timed.
 */
export async function checkAnswers(baseUrl: string, bodies: Record<BodyName, RequestBody>, jobUploads: readonly Upload[]): Promise<void> {
  const bodyOf: Record<ImageKind, BodyName> = { small: 'predict-small', drawing: 'predict-drawing', photo: 'predict-photo' };
  for (const kind of IMAGE_KINDS) {
    const { status, json } = await post(`${baseUrl}/predict`, bodies[bodyOf[kind]]);
    const prediction = (json as { prediction?: number } | null)?.prediction;
    if (status !== 200 || prediction !== BENCH_DIGIT) throw new Error(`POST /predict with the ${kind} image answered ${status} ${JSON.stringify(json)}; expected the digit ${BENCH_DIGIT}`);
  }
  const { status, json } = await post(`${baseUrl}/v1/jobs`, bodies['job-32'], { Prefer: `wait=${CHECK_WAIT_S}` });
  const predictions = (json as { output?: { predictions?: { prediction: number }[] } } | null)?.output?.predictions?.map((p) => p.prediction);
  const expected = jobUploads.map((u) => u.digit);
  if (status !== 200 || JSON.stringify(predictions) !== JSON.stringify(expected)) {
    throw new Error(`POST /v1/jobs with ${IMAGES_PER_JOB} images answered ${status} with digits ${JSON.stringify(predictions)}; expected ${JSON.stringify(expected)}`);
  }
}
