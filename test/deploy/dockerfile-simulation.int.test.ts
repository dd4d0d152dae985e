/**
 * The Docker build simulated (no container engine runs here): the Dockerfile's stages run as folders
 * (simulate-build.ts: COPY honouring .dockerignore, RUN with the stage's ARG defaults and ENV, COPY --from), then
 * each docker-compose.yml service's `command` starts in the runtime stage's folder with the service's environment,
 * against the test Redis: the API answers /healthz (and the image's HEALTHCHECK command passes), the worker
 * consumes. One npm ci per run (about 40 s); the folder is removed afterwards.
 *
 * The Dockerfile before issue 15 failed here twice over: npm ci ran without .npmrc, so onnxruntime-node's install
 * script tried to download the CUDA runtime (getaddrinfo ENOTFOUND api.nuget.org: npm ci failed); with .npmrc
 * added, NODE_ENV=production before npm ci left out tsx (a dev dependency) and both compose commands,
 * `node --import tsx apps/.../src/main.ts`, exited at once (ERR_MODULE_NOT_FOUND: Cannot find package 'tsx').
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, testRedisUrl } from '@digitq/test-utils';
import { execForm } from './dockerfile.ts';
import { interpolate, simulateBuild, type SimulatedStage } from './simulate-build.ts';

const ROOT = join(import.meta.dirname, '../..');
const BUILD_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 60_000;
/** What the compose file's ${...} read, as an operator's .env would give them. */
const DOT_ENV = { API_KEYS: `ci:sk_${randomUUID().replace(/-/g, '')}` };

interface ComposeService {
  command: string[];
  environment?: Record<string, string>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> };

interface Started {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

describe('the Docker build, simulated, starts every compose service', () => {
  let into = '';
  let runtime: SimulatedStage;
  const started: Started[] = [];
  const prefix = `docker-${randomUUID().slice(0, 8)}`;

  beforeAll(() => {
    into = mkdtempSync(join(tmpdir(), 'digitq-docker-'));
    const stages = simulateBuild({
      context: ROOT,
      dockerfile: readFileSync(join(ROOT, 'Dockerfile'), 'utf8'),
      dockerignore: readFileSync(join(ROOT, '.dockerignore'), 'utf8'),
      into,
    });
    runtime = stages.at(-1)!;
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
    await Promise.all(started.map((s) => s.exited));
    if (into) rmSync(into, { recursive: true, force: true });
  }, 60_000);

  /** A compose service's command in the runtime folder: the image's ENV, the service's environment, this test's Redis. */
  function startService(name: string, overrides: Record<string, string>): Started {
    const service = compose.services[name]!;
    const environment = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([key, value]) => [key, interpolate(String(value), DOT_ENV).replace(/^\/app(?=\/|$)/, runtime.dir)]),
    );
    const [program, ...args] = service.command;
    expect(program).toBe('node');
    const child = spawn(process.execPath, args, {
      cwd: runtime.dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...runtime.env, ...environment, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, ...overrides },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (line) => lines.push(line));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const each = { child, lines, exited };
    started.push(each);
    return each;
  }

  async function until(what: string, check: () => Promise<boolean> | boolean, process: Started): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await check())) {
      if (process.child.exitCode !== null) throw new Error(`${what}: the process exited (${process.child.exitCode}):\n${process.lines.slice(-20).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${what}: not within ${START_TIMEOUT_MS} ms:\n${process.lines.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('the runtime stage holds the bundles, production dependencies and models, and no TypeScript sources or build tools', () => {
    for (const file of ['.data', 'apps/api/dist/main.js', 'apps/worker/dist/main.js', 'models/digitnet/ACTIVE', 'node_modules/bullmq/package.json', 'node_modules/sharp/package.json', 'node_modules/onnxruntime-node/package.json']) {
      expect(existsSync(join(runtime.dir, file)), file).toBe(true);
    }
    for (const absent of ['apps/api/src', 'packages', 'scripts', 'node_modules/tsx', 'node_modules/esbuild', 'node_modules/vitest']) {
      expect(existsSync(join(runtime.dir, absent)), absent).toBe(false);
    }
    expect(runtime.env.NODE_ENV).toBe('production');
  });

  it('the api service starts, answers /healthz, and the image HEALTHCHECK passes', async () => {
    const port = await freePort();
    // Compose binds 0.0.0.0 inside the container; here the test keeps to loopback.
    const api = startService('api', { HOST: '127.0.0.1', PORT: String(port) });
    const healthz = async () => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    await until('api /healthz', healthz, api);
    const healthcheck = runtime.recorded.find((i) => i.keyword === 'HEALTHCHECK')!;
    const [program, ...args] = execForm(healthcheck.args.replace(/^(--\S+\s+)*CMD\s+/, ''))!;
    expect(program).toBe('node');
    const probe = (env: Record<string, string>) => spawnSync(process.execPath, args, { cwd: runtime.dir, env: { PATH: process.env.PATH, ...env }, timeout: 10_000 }).status;
    expect(probe({ PORT: String(port) })).toBe(0);
    // And it fails where nothing answers, so a passing probe means something.
    expect(probe({ PORT: String(await freePort()) })).toBe(1);
  });

  it('the worker service starts consuming', async () => {
    const worker = startService('worker', {});
    await until('worker consuming', () => worker.lines.some((l) => l.includes('worker consuming')), worker);
  });
});
