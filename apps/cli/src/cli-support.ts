import { pino, type Logger } from 'pino';

/** CLI logs go to stderr so stdout carries only the command's result. */
export function createCliLogger(name: string, level: string): Logger {
  return pino({ name, level }, pino.destination(2));
}

export function exitOnError(run: Promise<void>, log: Logger): void {
  run.then(
    () => process.exit(0),
    (error: unknown) => {
      log.error({ err: error }, error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
