/**
 * `npm start` as a user runs it: the real launcher process, its real API and
 * worker processes, a real Redis. Processes are found by the pids the
 * launcher logs and by walking /proc for its descendants, and every one this
 * file started is killed afterwards even when a test fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, appArgs, freePort, testRedisUrl } from '@digitq/test-utils';
import { STOP_REDIS_WHEN_PARENT_DIES } from './ensure-redis.ts';

/** The committed model: the worker must load a real one to get ready. */
const MODELS_DIR = resolve(REPO_ROOT, 'models');
const BANNER = 'digitq is running';
const READY_WAIT_MS = 60_000;
/** "Within a few seconds": a worker's drain after the launcher's death closes its consumers and Redis. */
const ORPHAN_WAIT_MS = 10_000;

interface LogLine {
  process?: string;
  msg?: string;
  child?: string;
  child_pid?: number;
  [field: string]: unknown;
}

interface Launcher {
  child: ChildProcess;
  pid: number;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The launcher's own JSON log lines (the children's pass through the same stdout). */
  logs(): LogLine[];
  /** Resolves with the first line (raw or the launcher's parsed log) matching, failing with the last lines after timeoutMs. */
  waitFor(what: string, match: (line: string, log: LogLine | null) => boolean, timeoutMs?: number): Promise<string>;
}

/** Every process this file started or saw started, with its command line then: cleanup kills only those still running the same command. */
const seen = new Map<number, string>();
const tempDirs: string[] = [];
const prefixes: string[] = [];

function cmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
}

/** Running, not a zombie (an orphan's exit is reaped by whatever adopted it, maybe late). */
function isAlive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** All processes below `root` now, from each process's parent pid in /proc. */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Exited while we looked.
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  for (const pid of found) remember(pid);
  return found;
}

/** What the launcher started below itself: its descendants but tsx's esbuild service (stdin-driven, it exits with its parent). */
function launchedBy(root: number): number[] {
  return descendantsOf(root).filter((pid) => !(cmdline(pid) ?? '').includes('esbuild'));
}

function remember(pid: number): void {
  const command = cmdline(pid);
  if (command !== null && !seen.has(pid)) seen.set(pid, command);
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.once('error', () => resolvePort(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort(true)));
  });
}

async function healthz(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function launcherEnv(extra: Record<string, string>): Promise<NodeJS.ProcessEnv> {
  const prefix = `launcher-${randomUUID().slice(0, 8)}`;
  prefixes.push(prefix);
  const dataDir = mkdtempSync(join(tmpdir(), 'digitq-launcher-'));
  tempDirs.push(dataDir);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDIS_URL: testRedisUrl(),
    REDIS_DATA_DIR: dataDir,
    QUEUE_PREFIX: prefix,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    MODELS_DIR,
    WORKERS: '1',
    TRAINING_WORKERS: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

function startLauncher(env: NodeJS.ProcessEnv): Launcher {
  // The production build, as `npm start` runs it (bundled by the test run's global setup); its children run the build too.
  const child = spawn(process.execPath, appArgs('launcher'), { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  remember(child.pid!);
  const lines: string[] = [];
  const parsed: LogLine[] = [];
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      let log: LogLine | null = null;
      try {
        log = JSON.parse(line) as LogLine;
      } catch {
        // The banner and stderr are plain text.
      }
      if (log?.process === 'launcher') {
        parsed.push(log);
        if (typeof log.child_pid === 'number') remember(log.child_pid);
        if (typeof log.redis_pid === 'number') remember(log.redis_pid);
      }
      for (const listener of listeners) listener();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const launcher: Launcher = {
    child,
    pid: child.pid!,
    lines,
    exited,
    logs: () => parsed,
    waitFor(what, match, timeoutMs = READY_WAIT_MS) {
      const find = () =>
        lines.find((line) => {
          let log: LogLine | null = null;
          try {
            log = JSON.parse(line) as LogLine;
          } catch {
            // plain text
          }
          return match(line, log?.process === 'launcher' ? log : null);
        });
      return new Promise((resolveLine, reject) => {
        const done = (error: Error | null, line?: string) => {
          listeners.delete(check);
          clearTimeout(timer);
          if (error) reject(error);
          else resolveLine(line!);
        };
        const fail = (why: string) => done(new Error(`${why} waiting for ${what}; last lines:\n${lines.slice(-25).join('\n')}`));
        const check = () => {
          const line = find();
          if (line !== undefined) done(null, line);
        };
        const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
        listeners.add(check);
        void exited.then(({ code, signal }) => setTimeout(() => listeners.has(check) && fail(`launcher exited (code ${code}, signal ${signal})`), 200));
        check();
      });
    },
  };
  return launcher;
}

/** The pid of the latest run of `name` the launcher started. */
function startedPid(launcher: Launcher, name: string): number {
  const started = launcher.logs().filter((l) => l.child === name && l.msg === `started ${name}`);
  expect(started.length).toBeGreaterThan(0);
  return started.at(-1)!.child_pid!;
}

afterAll(async () => {
  for (const [pid, command] of seen) if (isAlive(pid) && cmdline(pid) === command) process.kill(pid, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(testRedisUrl());
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

describe('npm start (the launcher process)', () => {
  it('uses a Redis that answers, restarts a crashed API, and on SIGTERM stops everything and exits 0', async () => {
    const env = await launcherEnv({});
    const port = Number(env.PORT);
    const launcher = startLauncher(env);
    await launcher.waitFor('the banner', (line) => line === BANNER);
    expect(launcher.logs().find((l) => l.msg === 'using running Redis')).toMatchObject({ redis: testRedisUrl(), started: false });
    expect(await healthz(port)).toBe(true);
    const api = startedPid(launcher, 'api');
    const worker = startedPid(launcher, 'worker-1');
    expect(launchedBy(launcher.pid).sort()).toEqual([api, worker].sort());

    process.kill(api, 'SIGKILL');
    const crash = await launcher.waitFor('the crash line', (_line, log) => log?.child === 'api' && /exited unexpectedly/.test(log.msg ?? ''));
    expect(JSON.parse(crash)).toMatchObject({ child: 'api', child_pid: api, signal: 'SIGKILL', restart: 1, delay_ms: 1_000, msg: 'api exited unexpectedly (signal SIGKILL); restart 1 in 1 s' });
    await launcher.waitFor('the restarted API ready', (_line, log) => log?.msg === 'api is ready' && log.child_pid !== api);
    const restarted = startedPid(launcher, 'api');
    expect(restarted).not.toBe(api);
    expect(await healthz(port)).toBe(true);
    // Only the crashed process was restarted.
    expect(startedPid(launcher, 'worker-1')).toBe(worker);
    expect(isAlive(worker)).toBe(true);

    expect(launchedBy(launcher.pid).sort()).toEqual([restarted, worker].sort());
    const tree = descendantsOf(launcher.pid);
    launcher.child.kill('SIGTERM');
    expect(await launcher.exited).toEqual({ code: 0, signal: null });
    // The launcher waited for its children; only tsx's helpers may take a moment more.
    expect([restarted, worker].filter(isAlive)).toEqual([]);
    await until('every process below the launcher to exit', () => tree.every((pid) => !isAlive(pid)), ORPHAN_WAIT_MS);
    expect(await portIsFree(port)).toBe(true);
    expect(launcher.lines.filter((line) => line === BANNER)).toHaveLength(1);
  }, 90_000);

  it('starts its own append-only redis-server when none answers, and after SIGKILL of the launcher nothing it started keeps running', async () => {
    const redisPort = await freePort();
    const env = await launcherEnv({ REDIS_URL: `redis://127.0.0.1:${redisPort}` });
    const port = Number(env.PORT);
    const launcher = startLauncher(env);
    await launcher.waitFor('the banner', (line) => line === BANNER);
    const started = launcher.logs().find((l) => l.msg === 'started redis-server');
    expect(started).toMatchObject({ redis: `redis://127.0.0.1:${redisPort}`, started: true });
    const client = new Redis(`redis://127.0.0.1:${redisPort}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    client.disconnect();

    // The API, the worker, redis-server and the process that stops redis-server when the launcher dies.
    const launched = launchedBy(launcher.pid);
    expect(launched).toHaveLength(4);
    expect(launched).toEqual(expect.arrayContaining([startedPid(launcher, 'api'), startedPid(launcher, 'worker-1'), started!.redis_pid]));
    expect(launched.filter((pid) => cmdline(pid)!.includes(STOP_REDIS_WHEN_PARENT_DIES))).toHaveLength(1);
    const tree = descendantsOf(launcher.pid);

    launcher.child.kill('SIGKILL');
    await launcher.exited;
    await until('every process the launcher started to exit', () => tree.every((pid) => !isAlive(pid)), ORPHAN_WAIT_MS);
    expect(await portIsFree(port)).toBe(true);
    expect(await portIsFree(redisPort)).toBe(true);
    expect(readdirSync(env.REDIS_DATA_DIR!)).toContain('appendonlydir');
  }, 90_000);

  it('gives up on a process that keeps failing before it is ready: one clear line, exit 1, nothing left', async () => {
    // The API cannot listen on a taken port, however often it is restarted.
    const taken: Server = createServer((socket) => socket.destroy());
    const env = await launcherEnv({ WORKERS: '0' });
    await new Promise<void>((r) => taken.listen(Number(env.PORT), '127.0.0.1', r));
    const launcher = startLauncher(env);
    try {
      // Five runs of about two seconds each, and 1 + 2 + 4 + 8 s between them.
      await launcher.waitFor('the launcher to give up', (_line, log) => /not restarting/.test(log?.msg ?? ''), 70_000);
      expect(await launcher.exited).toEqual({ code: 1, signal: null });
      const restarts = launcher.logs().filter((l) => /exited unexpectedly/.test(l.msg ?? ''));
      expect(restarts.map((l) => [l.child, l.code, l.restart, l.delay_ms])).toEqual([
        ['api', 1, 1, 1_000],
        ['api', 1, 2, 2_000],
        ['api', 1, 3, 4_000],
        ['api', 1, 4, 8_000],
      ]);
      const giveUp = launcher.logs().filter((l) => /not restarting/.test(l.msg ?? ''));
      expect(giveUp.map((l) => l.msg)).toEqual(['api exited 5 times in a row before it was ready (last: code 1); not restarting it']);
      expect(launcher.lines).not.toContain(BANNER);
      const apis = launcher.logs().filter((l) => l.msg === 'started api').map((l) => l.child_pid!);
      expect(apis).toHaveLength(5);
      expect(apis.filter(isAlive)).toEqual([]);
    } finally {
      launcher.child.kill('SIGKILL');
      await new Promise((r) => taken.close(r));
    }
  }, 90_000);
});
