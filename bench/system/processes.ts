/**
 * The processes a benchmark starts: digitq's API and workers (as `npm start`
 * starts them), the ceiling apps in bench/ceilings, and what each costs in
 * CPU and memory, read from /proc so the processes stay black boxes.
 *
 * Every child gets an IPC channel: the ceiling apps report readiness over it,
 * and all of them exit when it closes, so a benchmark killed outright leaves
 * nothing running.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
const STOP_GRACE_MS = 30_000;
/** Lines of a child's output kept to explain its death. */
const KEPT_OUTPUT_LINES = 40;
/** /proc/<pid>/stat times are in clock ticks; Linux reports 100 per second (sysconf CLK_TCK). */
const CLOCK_TICKS_PER_S = 100;
const KIB = 1024;

export type ProcessKind = 'api' | 'worker';

export interface ProcessCommand {
  command: string;
  args: string[];
}

const ENTRY = { api: 'apps/api', worker: 'apps/worker' } as const;

/**
 * How digitq's API or worker process is started: the compiled build when
 * there is one (apps/<app>/dist/main.js, as `npm start` runs it), else the
 * TypeScript sources through tsx. The one place that knows this.
 */
export function processCommand(kind: ProcessKind): ProcessCommand {
  const compiled = join(ROOT, ENTRY[kind], 'dist', 'main.js');
  if (existsSync(compiled)) return { command: process.execPath, args: [compiled] };
  return { command: process.execPath, args: ['--import', 'tsx', join(ROOT, ENTRY[kind], 'src', 'main.ts')] };
}

export interface RunMode {
  mode: 'compiled' | 'tsx';
  note: string;
}

/** Whether processCommand runs digitq compiled or from its sources, in words for the report. */
export function runMode(): RunMode {
  const compiled = [processCommand('api'), processCommand('worker')].every((c) => c.args[0]?.endsWith('.js'));
  return compiled
    ? { mode: 'compiled', note: 'node apps/<app>/dist/main.js (built by scripts/build.mjs first)' }
    : { mode: 'tsx', note: 'node --import tsx apps/<app>/src/main.ts (no build step in this tree)' };
}

/**
 * Builds the apps as `npm start` does before it starts them, when this tree
 * has a build step; a stale dist/ would otherwise be measured.
 */
export function buildIfBuildable(): RunMode {
  const script = join(ROOT, 'scripts', 'build.mjs');
  if (existsSync(script)) {
    const built = spawnSync(process.execPath, [script], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`node scripts/build.mjs failed (exit ${built.status}): ${built.stderr.trim().slice(-2000)}`);
  }
  return runMode();
}

export interface Child {
  name: string;
  pid: number;
  process: ChildProcess;
  /** The last lines the child printed, for error messages. */
  output(): string;
  /** Resolves with the first IPC message the child sends (the ceiling apps' readiness report). */
  firstMessage(): Promise<unknown>;
  /** SIGTERM, then SIGKILL after a grace period; resolves when it has exited. */
  stop(): Promise<void>;
  running(): boolean;
}

const children = new Set<Child>();
process.on('exit', () => {
  for (const child of children) if (child.running()) child.process.kill('SIGKILL');
});

export function startChild(name: string, command: ProcessCommand, env: Record<string, string>, extraArgs: string[] = []): Child {
  const child = spawn(command.command, [...command.args, ...extraArgs], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
    lines.splice(0, Math.max(0, lines.length - KEPT_OUTPUT_LINES));
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const message = new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${lines.join('\n')}`)));
  });
  message.catch(() => undefined);
  const running = () => child.exitCode === null && child.signalCode === null;
  const handle: Child = {
    name,
    pid: child.pid,
    process: child,
    output: () => lines.join('\n'),
    firstMessage: () => message,
    running,
    async stop() {
      if (running()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      children.delete(handle);
    },
  };
  children.add(handle);
  return handle;
}

/** A script of bench/ceilings, run from its TypeScript source. */
export function tsxCommand(script: string): ProcessCommand {
  return { command: process.execPath, args: ['--import', 'tsx', join(ROOT, script)] };
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
export function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the parenthesised command name, which may itself hold spaces: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** The process and all its descendants (e.g. an API primary and the processes it forked), from /proc. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The parent pid is the 2nd field after the parenthesised command name.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone since the directory was listed.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]!) ?? []));
  return tree;
}

/** CPU seconds the whole machine has spent busy (every core, everything but idle and I/O wait), from /proc/stat. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_S;
}

/** Resident set size in bytes (VmRSS), or null once the process is gone. */
export function rssBytesOf(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * KIB : null;
  } catch {
    return null;
  }
}

export interface WaitOptions {
  timeoutMs: number;
  /** Stops waiting (with an error) once this turns false, e.g. a process it waits for has died. */
  alive?: () => boolean;
  pollMs?: number;
}

const DEFAULT_POLL_MS = 100;

export async function waitUntil(what: string, check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const { timeoutMs, alive = () => true, pollMs = DEFAULT_POLL_MS } = options;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`a process exited while waiting for ${what}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
