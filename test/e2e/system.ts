/**
 * The real system for end-to-end tests: the API and worker processes started
 * as `npm start` starts them (the production build, plain node), against the
 * test run's Redis (or one of the test's own), under a queue prefix of their
 * own. Logs are kept per process so tests can assert on them and print them
 * when something fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { loadConfig } from '@digitq/config';
import { appArgs, freePort, testRedisUrl, type AppName } from '@digitq/test-utils';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
/** The configured (by default the committed) models: these tests check real answers, which is the production model's job. */
export const MODELS_DIR = resolve(REPO_ROOT, loadConfig().MODELS_DIR);
export const DATA_DIR = resolve(REPO_ROOT, loadConfig().DATA_DIR);

/** The version of the committed model that serves by default (models/digitnet/ACTIVE). */
export function committedActiveVersion(): string {
  return readFileSync(join(MODELS_DIR, 'digitnet', 'ACTIVE'), 'utf8').trim();
}

/** Fills `dir` (a test's own models folder) with a copy of the committed model, so trainings add versions there, never to the repository's. */
export function copyCommittedModels(dir: string): string {
  cpSync(join(MODELS_DIR, 'digitnet'), join(dir, 'digitnet'), { recursive: true });
  return dir;
}

export interface ProcessHandle {
  name: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export function startProcess(name: string, app: AppName, args: string[], env: NodeJS.ProcessEnv): ProcessHandle {
  const child = spawn(process.execPath, [...appArgs(app), ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const l of listeners) l(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return {
    name,
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 60_000) {
      const found = lines.find((l) => pattern.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolveLine, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(onLine);
          reject(new Error(`${name}: no log line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-20).join('\n')}`));
        }, timeoutMs);
        const onLine = (line: string) => {
          if (!pattern.test(line)) return;
          clearTimeout(timer);
          listeners.delete(onLine);
          resolveLine(line);
        };
        listeners.add(onLine);
        void exited.then(({ code, signal }) => {
          if (!listeners.has(onLine)) return;
          clearTimeout(timer);
          listeners.delete(onLine);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before logging ${pattern}; last lines:\n${lines.slice(-20).join('\n')}`));
        });
      });
    },
  };
}

export interface SystemOptions {
  workers?: number;
  /** Default: the test run's shared Redis. Tests that stop Redis bring their own. */
  redisUrl?: string;
  env?: Record<string, string>;
}

export class System {
  readonly prefix = `e2e-${randomUUID().slice(0, 8)}`;
  /** The system's own copy of the corrections (FEEDBACK_DIR), so no test restores another's, or a developer's, at start. */
  readonly feedbackDir = join(tmpdir(), `digitq-${this.prefix}-feedback`);
  readonly redisUrl: string;
  baseUrl = '';
  api!: ProcessHandle;
  readonly workers: ProcessHandle[] = [];
  private readonly connection: Redis;
  /** The inference queue, for asserting on counts. */
  readonly queue: Queue;
  private events: QueueEvents | null = null;
  private port = 0;

  constructor(private readonly options: SystemOptions = {}) {
    this.redisUrl = options.redisUrl ?? testRedisUrl();
    this.connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    // A test that stops Redis on purpose sees reconnect errors here; its assertions say what matters.
    this.connection.on('error', () => undefined);
    this.queue = new Queue('inference', { connection: this.connection, prefix: this.prefix });
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      REDIS_URL: this.redisUrl,
      QUEUE_PREFIX: this.prefix,
      PORT: String(this.port),
      HOST: '127.0.0.1',
      MODELS_DIR,
      DATA_DIR,
      FEEDBACK_DIR: this.feedbackDir,
      LOG_LEVEL: 'info',
      ...this.options.env,
      ...extra,
    };
  }

  async start(): Promise<this> {
    this.port = await freePort();
    this.baseUrl = `http://127.0.0.1:${this.port}`;
    this.api = startProcess('api', 'api', [], this.env());
    const starting = [this.api.waitForLine(/api listening/)];
    for (let i = 0; i < (this.options.workers ?? 1); i++) starting.push(this.startWorker().then(() => ''));
    await Promise.all(starting);
    return this;
  }

  async startWorker(extraEnv: Record<string, string> = {}, args: string[] = ['--device', 'cpu', '--queues', 'inference']): Promise<ProcessHandle> {
    const worker = startProcess(`worker-${this.workers.length + 1}`, 'worker', args, this.env(extraEnv));
    this.workers.push(worker);
    await worker.waitForLine(/worker consuming/);
    return worker;
  }

  /** QueueEvents of the inference queue, created on first use. */
  queueEvents(): QueueEvents {
    this.events ??= new QueueEvents('inference', { connection: this.connection, prefix: this.prefix });
    return this.events;
  }

  async stop(): Promise<void> {
    const running = [this.api, ...this.workers].filter((p) => p && p.child.exitCode === null && p.child.signalCode === null);
    for (const p of running) p.child.kill('SIGTERM');
    const forced = setTimeout(() => running.forEach((p) => p.child.kill('SIGKILL')), 30_000);
    await Promise.all(running.map((p) => p.exited));
    clearTimeout(forced);
    await this.events?.close();
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close();
    await this.connection.quit();
    rmSync(this.feedbackDir, { recursive: true, force: true });
  }

  logs(): string {
    return [this.api, ...this.workers].map((p) => `--- ${p.name}\n${p.lines.slice(-30).join('\n')}`).join('\n');
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls GET /v1/jobs/:id until `done(job)` or the timeout; returns the last job seen. */
export type JobBody = Record<string, any> & { status: string };

export async function pollJob(baseUrl: string, id: string, done: (job: JobBody) => boolean, timeoutMs = 30_000): Promise<JobBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await (await fetch(`${baseUrl}/v1/jobs/${id}`)).json()) as JobBody;
    if (done(job) || Date.now() > deadline) return job;
    await sleep(50);
  }
}

/**
 * A System started before the suite's tests and stopped after them;
 * `setup` runs after start (e.g. to add workers with their own settings).
 */
export function useSystem(options: SystemOptions = {}, setup?: (system: System) => Promise<void>): System {
  const system = new System(options);
  beforeAll(async () => {
    await system.start();
    await setup?.(system);
  }, 180_000);
  afterAll(async () => {
    await system.stop();
  }, 60_000);
  return system;
}
