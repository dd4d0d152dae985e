/**
 * The real API process for tests about what only the process does (its Redis
 * connections, its signals, its log stream, its cluster of processes): the
 * production build (`node apps/api/dist/main.js`, bundled by the vitest
 * global setup) as `npm run api` starts it, on a free port, with the
 * environment the test gives and nothing inherited beyond PATH and HOME.
 * Every line it writes is kept, so tests can assert on the log text.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO_ROOT, appArgs } from '@digitq/test-utils';

const START_TIMEOUT_MS = 30_000;

export interface ApiProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Every line written to stdout and stderr so far. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first line matching `pattern` (already written or still to come), or a rejection after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL if it is still running after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ApiProcessOptions {
  /** An IPC channel to the test, as the launcher gives its children: closing it is the parent's death. */
  ipc?: boolean;
}

export async function startApiProcess(env: Record<string, string>, options: ApiProcessOptions = {}): Promise<ApiProcess> {
  const child = spawn(process.execPath, appArgs('api'), {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      for (const listener of listeners) listener(line);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const waitForLine = (pattern: RegExp, timeoutMs = START_TIMEOUT_MS) => {
    const found = lines.find((line) => pattern.test(line));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<string>((resolveLine, reject) => {
      const onLine = (line: string) => {
        if (!pattern.test(line)) return;
        clearTimeout(timer);
        listeners.delete(onLine);
        resolveLine(line);
      };
      const timer = setTimeout(() => {
        listeners.delete(onLine);
        reject(new Error(`api: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-20).join('\n')}`));
      }, timeoutMs);
      listeners.add(onLine);
      void exited.then(({ code, signal }) => {
        if (!listeners.delete(onLine)) return;
        clearTimeout(timer);
        reject(new Error(`api exited (code ${code}, signal ${signal}) before writing ${pattern}; last lines:\n${lines.slice(-20).join('\n')}`));
      });
    });
  };
  const listening = JSON.parse(await waitForLine(/"api listening"/)) as { url: string };
  return {
    child,
    baseUrl: listening.url,
    lines,
    exited,
    waitForLine,
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(forced);
    },
  };
}

/** Log lines as objects (pino JSON), skipping anything else the process wrote. */
export function parsedLines(lines: readonly string[]): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** Resolves once the API reached Redis: GET /v1/jobs (which needs Redis) answers 200 instead of 503. */
export async function untilConnected(api: ApiProcess, timeoutMs = START_TIMEOUT_MS, headers: Record<string, string> = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await fetch(`${api.baseUrl}/v1/jobs`, { headers })).status !== 200) {
    if (Date.now() > deadline) throw new Error(`the API did not reach Redis within ${timeoutMs} ms; last lines:\n${api.lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
