import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

/** LOG_FORMAT: JSON lines, one readable line per entry, or readable when stdout is a terminal. */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** Fields a readable line leaves out: the process name leads the line, the rest is noise in a terminal. */
const PRETTY_IGNORED = 'pid,hostname,process';

/**
 * Logs on stdout for every long-running process; `process` names which one
 * wrote each line when several share a terminal. JSON lines for machines
 * (a pipe, a log shipper); in a terminal (`auto`), one readable line each,
 * written synchronously in this thread so it interleaves cleanly with the
 * launcher's banner and survives an abrupt exit.
 */
export function createLogger(processName: string, level: LevelWithSilent, bindings: Record<string, unknown> = {}, format: LogFormat = 'json'): Logger {
  const options = { level, base: { process: processName, pid: process.pid, ...bindings } };
  const readable = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (!readable) return pino(options);
  return pino(
    options,
    pretty({ sync: true, colorize: process.stdout.isTTY === true, singleLine: true, translateTime: 'SYS:HH:MM:ss', ignore: PRETTY_IGNORED, messageFormat: '{process}: {msg}' }),
  );
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
