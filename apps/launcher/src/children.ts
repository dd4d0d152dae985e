/**
 * Runs the API and worker processes, passes their log lines through, and
 * stops them together: SIGTERM first (each drains), SIGKILL after a grace
 * period or on a second Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildSpec {
  name: string;
  script: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface RunningChild {
  spec: ChildSpec;
  process: ChildProcess;
  exited: Promise<number | null>;
}

/**
 * tsx runs the TypeScript sources directly; no build step stands between a
 * clone and a running system. Children get their own process group so a
 * terminal's Ctrl-C reaches only the launcher, which sends each exactly one
 * SIGTERM (a second signal would make them skip draining).
 */
export function startChild(spec: ChildSpec, onLine: (line: string) => void): RunningChild {
  const child = spawn(process.execPath, ['--import', 'tsx', spec.script, ...spec.args], {
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { spec, process: child, exited };
}

export async function stopChildren(children: RunningChild[], graceMs: number): Promise<void> {
  const alive = children.filter((c) => c.process.exitCode === null && c.process.signalCode === null);
  for (const c of alive) c.process.kill('SIGTERM');
  const timer = setTimeout(() => alive.forEach((c) => c.process.kill('SIGKILL')), graceMs);
  await Promise.all(alive.map((c) => c.exited));
  clearTimeout(timer);
}

export function killChildren(children: RunningChild[]): void {
  for (const c of children) c.process.kill('SIGKILL');
}
