/**
 * Starting and stopping the API and worker processes: SIGTERM first (each
 * drains), SIGKILL after a grace period or on a second Ctrl-C. Whether to
 * restart one is the supervisor's business (supervisor.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type AppName = 'api' | 'worker';

export interface ChildSpec {
  /** Names the process in the launcher's log lines: api, worker-1, trainer-1. */
  name: string;
  app: AppName;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why the process could not be started at all. */
  error?: Error;
}

export interface RunningChild {
  spec: ChildSpec;
  process: ChildProcess;
  pid: number;
  exited: Promise<ChildExit>;
}

const THIS_FILE = fileURLToPath(import.meta.url);
/** apps/launcher/dist/main.js (the bundle) and apps/launcher/src/children.ts both sit three levels below the repository. */
const REPO_ROOT = join(dirname(THIS_FILE), '..', '..', '..');

/**
 * Children run the way the launcher runs: the production build (plain node,
 * what `npm start` and the Docker image use) when the launcher is the build,
 * the TypeScript sources through tsx when it runs from them (`npm run dev`).
 */
export function childCommand(app: AppName): string[] {
  const fromBuild = THIS_FILE.endsWith(`${sep}dist${sep}main.js`);
  return fromBuild ? [join(REPO_ROOT, 'apps', app, 'dist', 'main.js')] : ['--import', 'tsx', join(REPO_ROOT, 'apps', app, 'src', 'main.ts')];
}

/**
 * Each child gets its own process group, so a terminal's Ctrl-C reaches only
 * the launcher, which sends each exactly one SIGTERM (a second signal would
 * make them skip draining). Each child gets an IPC channel, closed by the
 * kernel when the launcher dies however it dies: the child sees 'disconnect'
 * and drains (exitWhenParentDies in @digitq/service), so none outlives the
 * launcher. Their output goes straight to the launcher's stdout and stderr,
 * not through a pipe the launcher reads: such a pipe breaks when the launcher
 * dies, and a child logging into it (pino flushes at exit and retries EPIPE
 * forever) would hang instead of exiting.
 */
export function startChild(spec: ChildSpec): RunningChild {
  const child = spawn(process.execPath, [...childCommand(spec.app), ...spec.args], {
    env: spec.env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // Not started at all (no 'exit' follows): report it as an exit so the supervisor sees it.
    child.once('error', (error) => {
      if (child.pid === undefined) resolve({ code: null, signal: null, error });
    });
  });
  return { spec, process: child, pid: child.pid ?? -1, exited };
}

export function isRunning(child: RunningChild): boolean {
  return child.pid > 0 && child.process.exitCode === null && child.process.signalCode === null;
}

export function describeExit(exit: ChildExit): string {
  if (exit.error) return `could not start: ${exit.error.message}`;
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}

export async function stopChildren(children: RunningChild[], graceMs: number): Promise<void> {
  const alive = children.filter(isRunning);
  for (const c of alive) c.process.kill('SIGTERM');
  const timer = setTimeout(() => alive.filter(isRunning).forEach((c) => c.process.kill('SIGKILL')), graceMs);
  await Promise.all(alive.map((c) => c.exited));
  clearTimeout(timer);
}

export function killChildren(children: RunningChild[]): void {
  for (const c of children.filter(isRunning)) c.process.kill('SIGKILL');
}
