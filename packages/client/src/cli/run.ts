/**
 * The CLI as a function: arguments in, exit code out; output through the
 * given streams. Exit codes: 0 ok, 1 the job failed (or the server refused,
 * or a wait timed out), 2 usage error, 3 server unreachable, 130 Ctrl-C.
 * Every error is one line on stderr.
 */
import { parseArgs } from 'node:util';
import { DigitqClient } from '../client.ts';
import { DigitqError, DigitqTimeoutError, DigitqUnreachableError } from '../errors.ts';
import { COMMANDS, EXIT, UsageError, type Command, type OptionsConfig, type Values } from './commands.ts';
import { cliSettings } from './settings.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

const GLOBAL_OPTIONS: OptionsConfig = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP: [string, string][] = [
  ['--url URL', 'the API; default DIGITQ_URL, else http://localhost:3000'],
  ['--api-key KEY', 'default DIGITQ_API_KEY'],
  ['--json', 'print JSON instead of text'],
  ['-h, --help', 'this help'],
];

function optionLines(options: [string, string][]): string[] {
  const width = Math.max(...options.map(([flag]) => flag.length));
  return options.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`.trimEnd());
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: digitq <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options (every command):',
    ...optionLines(GLOBAL_HELP),
    '',
    'Exit codes: 0 ok, 1 job failed or request refused, 2 usage error, 3 server unreachable.',
    'Run digitq <command> --help for its options.',
    '',
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `Usage: digitq ${command.name}${command.args ? ` ${command.args}` : ''} [options]`,
    '',
    command.summary,
    ...(command.notes ?? []),
    '',
    'Options:',
    ...optionLines([...command.details, ...GLOBAL_HELP]),
    '',
  ].join('\n');
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const fail = (message: string, code: number) => {
    io.stderr.write(`digitq: ${message}\n`);
    return code;
  };
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(mainHelp());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const command = COMMANDS.find((c) => c.name === rest[0]);
    io.stdout.write(command ? commandHelp(command) : mainHelp());
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) return fail(`unknown command ${JSON.stringify(name)}; see digitq --help`, EXIT.usage);

  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true }));
  } catch (error) {
    return fail(`${(error as Error).message}; see digitq ${command.name} --help`, EXIT.usage);
  }
  if (values.help) {
    io.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
    const expected = command.positionals.max === 0 ? 'no arguments' : command.args;
    return fail(`${command.name} takes ${expected}, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}; see digitq ${command.name} --help`, EXIT.usage);
  }

  const settings = cliSettings(io.env);
  const url = typeof values.url === 'string' ? values.url : settings.url;
  if (!/^https?:\/\/[^/]/.test(url)) return fail(`--url must be an http or https URL, not ${JSON.stringify(url)}`, EXIT.usage);
  const client = new DigitqClient({
    baseUrl: url,
    apiKey: typeof values['api-key'] === 'string' ? values['api-key'] : settings.apiKey,
    adminKey: typeof values['admin-key'] === 'string' ? values['admin-key'] : settings.adminKey,
  });
  try {
    return await command.run({ client, json: values.json === true, out: (text) => io.stdout.write(text), stderr: io.stderr, signal: io.signal }, values, positionals);
  } catch (error) {
    if (io.signal.aborted) return fail('interrupted; a job already submitted carries on (digitq status <id>)', EXIT.interrupted);
    if (error instanceof UsageError) return fail(`${error.message}; see digitq ${command.name} --help`, EXIT.usage);
    if (error instanceof DigitqUnreachableError) return fail(error.message, EXIT.unreachable);
    if (error instanceof DigitqError) {
      const request = error.requestId ? `, request ${error.requestId}` : '';
      return fail(`${error.code}: ${error.message} (HTTP ${error.status}${request})`, EXIT.failed);
    }
    if (error instanceof DigitqTimeoutError) return fail(error.message, EXIT.failed);
    return fail(error instanceof Error ? error.message : String(error), EXIT.failed);
  }
}
