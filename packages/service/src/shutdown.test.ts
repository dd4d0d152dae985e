import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { closeWithin, handleShutdownSignals, type Drain } from './shutdown.ts';

/** A logger whose lines the test reads; SIGUSR2 stands in for SIGTERM (process.emit runs the handlers, nothing is sent). */
function setUp(drain: Drain, options: { timeoutMs: number; unfinished?: () => Record<string, unknown> }) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  const exits: number[] = [];
  const exited = new Promise<number>((resolve) => {
    handleShutdownSignals(pino(stream), drain, { ...options, signals: ['SIGUSR2'], exit: (code) => (exits.push(code), resolve(code)) });
  });
  return { lines, exits, exited, signal: () => process.emit('SIGUSR2', 'SIGUSR2') };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  process.removeAllListeners('SIGUSR2');
});

describe('handleShutdownSignals', () => {
  it('exits 0 once the drain finished', async () => {
    const ran: string[] = [];
    const { signal, exited, lines } = setUp(
      async (_signal, steps) => {
        await steps.run('first', async () => ran.push('first'));
      },
      { timeoutMs: 1000 },
    );
    signal();
    expect(await exited).toBe(0);
    expect(ran).toEqual(['first']);
    expect(lines.map((l) => l.msg)).toContain('shutdown complete');
  });

  it('exits 1 at the deadline, naming the steps still running and what the process reports unfinished', async () => {
    const { signal, exited, lines } = setUp(
      async (_signal, steps) => {
        await steps.run('quick', () => sleep(1));
        await Promise.all([steps.run('finish requests in flight', () => sleep(10_000)), steps.run('close redis', () => sleep(10_000))]);
      },
      { timeoutMs: 100, unfinished: () => ({ requests_in_flight: 2 }) },
    );
    const started = Date.now();
    signal();
    expect(await exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
    const deadline = lines.find((l) => String(l.msg).startsWith('shutdown did not finish within 100 ms'));
    expect(deadline).toMatchObject({ level: 50, timeout_ms: 100, abandoned: { steps: ['finish requests in flight', 'close redis'], requests_in_flight: 2 } });
  });

  it('exits 1 at once on a second signal', async () => {
    const { signal, exits } = setUp(() => sleep(10_000), { timeoutMs: 5000 });
    signal();
    signal();
    expect(exits).toEqual([1]);
  });
});

describe('closeWithin', () => {
  it('closes politely when the close finishes in time', async () => {
    let cut = false;
    expect(await closeWithin(100, () => sleep(1), () => (cut = true))).toBe('closed');
    expect(cut).toBe(false);
  });

  it('cuts the connection when the close hangs, fails, or the cut itself hangs', async () => {
    let cuts = 0;
    const started = Date.now();
    expect(await closeWithin(50, () => new Promise(() => undefined), () => cuts++)).toBe('disconnected');
    expect(await closeWithin(50, () => Promise.reject(new Error('Connection is closed.')), () => cuts++)).toBe('disconnected');
    expect(await closeWithin(50, () => new Promise(() => undefined), () => new Promise(() => cuts++))).toBe('disconnected');
    expect(cuts).toBe(3);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
