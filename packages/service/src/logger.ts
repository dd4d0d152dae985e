import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * Structured JSON logs on stdout for every long-running process; `process`
 * names which one wrote each line when several share a terminal.
 */
export function createLogger(processName: string, level: LevelWithSilent, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { process: processName, pid: process.pid, ...bindings } });
}

export type { Logger };
