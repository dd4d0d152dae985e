/**
 * What every ceiling app shares as a child of bench/system.bench.ts: it says
 * it is ready over the IPC channel, answers the parent's requests on it, and
 * stops with its parent (SIGTERM, or the channel closing if the parent died).
 */
import { parseArgs } from 'node:util';

export type Stop = () => Promise<void>;

/** `--name value` options, all strings, all required. */
export function requiredArgs<const Name extends string>(names: readonly Name[]): Record<Name, string> {
  const { values } = parseArgs({ options: Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])) });
  const missing = names.filter((name) => typeof values[name] !== 'string');
  if (missing.length > 0) throw new Error(`missing ${missing.map((name) => `--${name}`).join(', ')}`);
  return values as Record<Name, string>;
}

export function send(message: unknown): void {
  if (!process.send) throw new Error('a ceiling app runs as a child of bench/system.bench.ts (it needs the IPC channel)');
  process.send(message);
}

/** Answers each request message with `answer(message)`. */
export function answerRequests(answer: (message: unknown) => unknown): void {
  process.on('message', (message) => send(answer(message)));
}

export function stopWithParent(stop: Stop): void {
  let stopping = false;
  const once = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', once);
  process.on('SIGINT', once);
  process.on('disconnect', once);
}
