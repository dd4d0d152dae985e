/**
 * Graceful shutdown with a deadline: the first SIGTERM/SIGINT runs `drain`
 * (stop taking work, finish what is in flight, close connections) and exits
 * 0. A drain still running after `timeoutMs` (SHUTDOWN_TIMEOUT_MS, within the
 * 30 s orchestrators wait before SIGKILL) is cut short: one line says what
 * was abandoned (the drain steps still running, and whatever `unfinished`
 * reports, e.g. requests in flight) and the process exits 1. A second signal
 * exits 1 at once.
 */
import type { Logger } from 'pino';

export interface ShutdownOptions {
  /** How long the drain may run before the process exits anyway (SHUTDOWN_TIMEOUT_MS). */
  timeoutMs: number;
  signals?: NodeJS.Signals[];
  exit?: (code: number) => void;
  /** What the drain leaves undone if the deadline cuts it short (e.g. `{ requests_in_flight: 2 }`), for the log line. */
  unfinished?: () => Record<string, unknown>;
}

/** Names the drain's steps, so the deadline's log line can say which were still running. */
export interface DrainSteps {
  run<T>(name: string, work: () => Promise<T>): Promise<T>;
}

export type Drain = (signal: NodeJS.Signals, steps: DrainSteps) => Promise<void>;

function trackSteps(): DrainSteps & { pending(): string[] } {
  const running = new Set<string>();
  return {
    async run(name, work) {
      running.add(name);
      try {
        return await work();
      } finally {
        running.delete(name);
      }
    },
    pending: () => [...running],
  };
}

export function handleShutdownSignals(log: Logger, drain: Drain, options: ShutdownOptions): void {
  const { timeoutMs, signals = ['SIGTERM', 'SIGINT'], exit = (code) => process.exit(code), unfinished = () => ({}) } = options;
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      log.warn({ signal }, 'second signal: exiting without finishing in-flight work');
      exit(1);
      return;
    }
    draining = true;
    log.info({ signal, timeout_ms: timeoutMs }, 'shutting down: finishing in-flight work (send the signal again to force)');
    const steps = trackSteps();
    const timer = setTimeout(() => {
      log.error(
        { timeout_ms: timeoutMs, abandoned: { steps: steps.pending(), ...unfinished() } },
        `shutdown did not finish within ${timeoutMs} ms: exiting with work abandoned`,
      );
      exit(1);
    }, timeoutMs);
    timer.unref();
    drain(signal, steps).then(
      () => {
        clearTimeout(timer);
        log.info('shutdown complete');
        exit(0);
      },
      (error: unknown) => {
        clearTimeout(timer);
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
}

/**
 * Closes a connection politely within `graceMs` (QUIT, a queue's close),
 * else cuts it (`disconnect`): a shutdown must not wait on an unreachable
 * Redis, where ioredis would hold the QUIT until a reconnect that never comes.
 * Never throws; says which way it went.
 */
export async function closeWithin(graceMs: number, close: () => Promise<unknown>, disconnect: () => unknown): Promise<'closed' | 'disconnected'> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), graceMs);
  });
  const closed = close().then(
    () => 'closed' as const,
    () => 'failed' as const,
  );
  const outcome = await Promise.race([closed, expired]);
  clearTimeout(timer);
  if (outcome === 'closed') return 'closed';
  try {
    // BullMQ's disconnect() may wait for a connection that never came up: started, never awaited.
    Promise.resolve(disconnect()).catch(() => undefined);
  } catch {
    // Already closed: nothing left to cut.
  }
  return 'disconnected';
}
