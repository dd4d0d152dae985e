/**
 * Graceful shutdown: the first SIGTERM/SIGINT runs `drain` (stop taking
 * work, finish what is in flight, close connections) and exits 0; a second
 * signal, or a drain that outlives `forceAfterMs`, exits at once with 1.
 */
import type { Logger } from 'pino';

export interface ShutdownOptions {
  forceAfterMs?: number;
  signals?: NodeJS.Signals[];
  exit?: (code: number) => void;
}

export function handleShutdownSignals(log: Logger, drain: (signal: NodeJS.Signals) => Promise<void>, options: ShutdownOptions = {}): void {
  const { forceAfterMs = 30_000, signals = ['SIGTERM', 'SIGINT'], exit = (code) => process.exit(code) } = options;
  let draining = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (draining) {
      log.warn({ signal }, 'second signal: exiting without finishing in-flight work');
      exit(1);
      return;
    }
    draining = true;
    log.info({ signal }, 'shutting down: finishing in-flight work (send the signal again to force)');
    const timer = setTimeout(() => {
      log.error({ forceAfterMs }, 'shutdown took too long; exiting');
      exit(1);
    }, forceAfterMs);
    timer.unref();
    drain(signal).then(
      () => {
        log.info('shutdown complete');
        exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, onSignal);
}
