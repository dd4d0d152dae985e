import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const HELPER = fileURLToPath(new URL('./parent-watch.ts', import.meta.url));
const EXIT_WAIT_MS = 10_000;

const WATCH = `import { exitWhenParentDies } from ${JSON.stringify(HELPER)};
const watch = () => exitWhenParentDies(() => { process.stdout.write('gone\\n'); process.exit(0); });`;

function runNode(source: string, ipc: boolean): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    stdio: ['ignore', 'pipe', 'inherit', ...(ipc ? (['ipc'] as const) : [])],
  });
}

/** Exit code and stdout. ('close' never comes once this side has disconnected the channel, so exit and end of stdout.) */
async function outcome(child: ChildProcess): Promise<{ code: number | null; output: string }> {
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ended = new Promise((resolve) => child.stdout!.once('end', resolve));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${EXIT_WAIT_MS} ms; output: ${output}`)), EXIT_WAIT_MS);
  });
  try {
    const [code] = await Promise.race([Promise.all([exited, ended]), timeout]);
    return { code, output };
  } finally {
    clearTimeout(timer);
  }
}

/** Running, not a zombie: an orphan's exit is reaped by whatever adopted it, maybe late. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('exitWhenParentDies', () => {
  it('calls back when the parent is SIGKILLed', async () => {
    // The middle process starts a watcher with an IPC channel, reports its pid, then waits to be killed.
    const middle = runNode(
      `import { spawn } from 'node:child_process';
const watcher = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', ${JSON.stringify(`${WATCH} watch(); process.send('watching'); setInterval(() => {}, 1000);`)}], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
watcher.on('message', () => process.stdout.write(watcher.pid + '\\n'));
setInterval(() => {}, 1000);`,
      false,
    );
    // The watcher says it is up over the channel, so the kill below cannot come before its listener.
    const watcherPid = await new Promise<number>((resolve) => middle.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    started.push(middle.pid!, watcherPid);
    expect(alive(watcherPid)).toBe(true);
    middle.kill('SIGKILL');
    const deadline = Date.now() + EXIT_WAIT_MS;
    while (alive(watcherPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(watcherPid)).toBe(false);
  }, 20_000);

  it('calls back at once when the parent went before the call', async () => {
    const child = runNode(`${WATCH} const wait = setInterval(() => { if (!process.connected) { clearInterval(wait); watch(); } }, 10);`, true);
    const done = outcome(child);
    child.disconnect();
    expect(await done).toEqual({ code: 0, output: 'gone\n' });
  });

  it('does nothing without an IPC channel, and never keeps a finished process alive', async () => {
    const source = `${WATCH} watch(); process.stdout.write('done\\n');`;
    expect(await outcome(runNode(source, false))).toEqual({ code: 0, output: 'done\n' });
    expect(await outcome(runNode(source, true))).toEqual({ code: 0, output: 'done\n' });
  });
});
