import { pino, type Logger, type LevelWithSilent } from 'pino';

/**
 * Structured JSON logs on stdout for every long-running process; `process`
 * names which one wrote each line when several share a terminal.
 */
export function createLogger(processName: string, level: LevelWithSilent, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { process: processName, pid: process.pid, ...bindings } });
}

/** A URL fit for a log line: its password (e.g. REDIS_URL's `redis://:secret@host`) replaced. */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '(invalid URL)';
  }
}

export type { Logger };
