/**
 * The digitq CLI's commands, one table: each names its arguments and
 * options (node:util parseArgs), its help text and what it does with a
 * DigitqClient. Exit codes are decided in run.ts from what a command returns
 * or throws.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { JobView, TrainingProgress, TrainingView } from '@digitq/contracts';
import type { DigitqClient, TrainOptions, Transport } from '../client.ts';
import { DigitqError, DigitqTimeoutError } from '../errors.ts';
import { jobText, modelsTable, predictionTable, trainingText, type PredictRow } from './format.ts';
import { trainingProgressView } from './progress.ts';

export const EXIT = {
  ok: 0,
  /** The job (or training) failed or was canceled, the wait timed out, or the server refused the request. */
  failed: 1,
  usage: 2,
  unreachable: 3,
  /** Ctrl-C while following a job (128 + SIGINT). */
  interrupted: 130,
} as const;

/** A mistake in the command line (or a file that cannot be read): exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CommandContext {
  client: DigitqClient;
  json: boolean;
  out(text: string): void;
  /** Where progress goes (never stdout, so --json output stays parseable). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Command {
  name: string;
  /** Arguments after the command, as help shows them. */
  args: string;
  summary: string;
  /** Its options and what each does, for help. */
  details: [flag: string, help: string][];
  /** Help paragraphs after the summary. */
  notes?: string[];
  options: OptionsConfig;
  positionals: { min: number; max: number };
  run(ctx: CommandContext, values: Values, positionals: string[]): Promise<number>;
}

const transportOptions: OptionsConfig = {
  timeout: { type: 'string' },
  poll: { type: 'boolean' },
};
const TRANSPORT_HELP: [string, string][] = [
  ['--timeout S', 'give up after S seconds (exit 1; the job carries on)'],
  ['--poll', 'poll instead of reading server-sent events'],
];

export const COMMANDS: Command[] = [
  {
    name: 'predict',
    args: '<file...>',
    summary: 'Read the digit in each image (POST /predict)',
    details: [
      ['--model REF', 'name, name@vN or name@vN:variant; default the active model'],
      ['--min-confidence P', 'below this top probability (0..1) the digit is ? (uncertain); default the server\'s'],
    ],
    notes: ['Prints a table (FILE DIGIT CONFIDENCE MODEL), one row per file; exit 1 when any image failed.'],
    options: { model: { type: 'string' }, 'min-confidence': { type: 'string' } },
    positionals: { min: 1, max: Infinity },
    async run(ctx, values, files) {
      const images = await readImages(files);
      const minConfidence = probability('--min-confidence', values['min-confidence']);
      const rows: PredictRow[] = [];
      for (const [i, image] of images.entries()) {
        try {
          rows.push({ file: files[i]!, result: await ctx.client.predict(image, { model: str(values.model), minConfidence, signal: ctx.signal }), error: null });
        } catch (error) {
          // One bad image does not hide the others' answers; a server that is gone or a refused key does.
          if (!(error instanceof DigitqError) || error.status === 401 || error.status === 403) throw error;
          rows.push({ file: files[i]!, result: null, error: `${error.code}: ${error.message}` });
        }
      }
      ctx.out(ctx.json ? json(rows.map((r) => ({ file: r.file, ...(r.result ?? { error: r.error }) }))) : predictionTable(rows));
      return rows.every((r) => r.result) ? EXIT.ok : EXIT.failed;
    },
  },
  {
    name: 'submit',
    args: '<file...>',
    summary: 'Queue a job over the images (POST /v1/jobs)',
    details: [
      ['--webhook URL', 'called back when the job finishes'],
      ['--model REF', 'default the active model'],
      ['--priority N', '1 (least urgent) to 10; default 5'],
      ['--min-confidence P', 'below this top probability (0..1) an image\'s digit is ? (uncertain); default the server\'s'],
      ['--idempotency-key K', 'the same key and images give back the first job'],
      ['--wait', 'wait for the job and print its predictions (exit 1 if it failed)'],
      ...TRANSPORT_HELP,
    ],
    options: { webhook: { type: 'string' }, model: { type: 'string' }, priority: { type: 'string' }, 'min-confidence': { type: 'string' }, 'idempotency-key': { type: 'string' }, wait: { type: 'boolean' }, ...transportOptions },
    positionals: { min: 1, max: Infinity },
    async run(ctx, values, files) {
      const images = await readImages(files);
      const priority = values.priority === undefined ? undefined : integer('--priority', values.priority);
      const waitOptions = follow(values);
      const job = await ctx.client.submit(images, {
        webhook: str(values.webhook),
        model: str(values.model),
        priority,
        minConfidence: probability('--min-confidence', values['min-confidence']),
        idempotencyKey: str(values['idempotency-key']),
        signal: ctx.signal,
      });
      if (!values.wait) {
        ctx.out(ctx.json ? json(job) : jobText(job, files));
        return EXIT.ok;
      }
      const done = await ctx.client.wait(job.id, { ...waitOptions, signal: ctx.signal });
      ctx.out(ctx.json ? json(done) : jobText(done, files));
      return jobExit(done);
    },
  },
  {
    name: 'status',
    args: '<id>',
    summary: 'Show a job (GET /v1/jobs/:id)',
    details: [['--training', "the id is a training's"]],
    notes: ['Exit 0 whatever the job\'s status; `digitq wait` exits 1 for a failed job.'],
    options: { training: { type: 'boolean' } },
    positionals: { min: 1, max: 1 },
    async run(ctx, values, [id]) {
      const view = values.training ? await ctx.client.getTraining(id!, { signal: ctx.signal }) : await ctx.client.get(id!, { signal: ctx.signal });
      ctx.out(ctx.json ? json(view) : values.training ? trainingText(view as TrainingView) : jobText(view as JobView));
      return EXIT.ok;
    },
  },
  {
    name: 'wait',
    args: '<id>',
    summary: 'Wait until a job finishes; exit 1 unless it succeeded',
    details: [['--training', "the id is a training's"], ...TRANSPORT_HELP],
    options: { training: { type: 'boolean' }, ...transportOptions },
    positionals: { min: 1, max: 1 },
    async run(ctx, values, [id]) {
      const options = { ...follow(values), signal: ctx.signal };
      if (values.training) {
        const training = await ctx.client.waitTraining(id!, options);
        ctx.out(ctx.json ? json(training) : trainingText(training));
        return jobExit(training);
      }
      const job = await ctx.client.wait(id!, options);
      ctx.out(ctx.json ? json(job) : jobText(job));
      return jobExit(job);
    },
  },
  {
    name: 'cancel',
    args: '<id>',
    summary: 'Cancel a queued or running job (exit 1 if it already finished)',
    details: [['--training', "the id is a training's"]],
    options: { training: { type: 'boolean' } },
    positionals: { min: 1, max: 1 },
    async run(ctx, values, [id]) {
      const view = values.training ? await ctx.client.cancelTraining(id!, { signal: ctx.signal }) : await ctx.client.cancel(id!, { signal: ctx.signal });
      ctx.out(ctx.json ? json(view) : values.training ? trainingText(view as TrainingView) : jobText(view as JobView));
      return EXIT.ok;
    },
  },
  {
    name: 'train',
    args: '',
    summary: 'Train a new model version, with a live progress bar (POST /v1/trainings)',
    details: [
      ['--dataset D', 'mnist, mnist+feedback, feedback, idx:<dir> or folder:<dir>; default mnist'],
      ['--base REF', 'fine-tune this version (e.g. digitnet@v1), starting from its weights'],
      ['--epochs N', 'default 12'],
      ['--batch-size N', 'default 64'],
      ['--learning-rate X', 'default 0.003'],
      ['--architecture A', 'digitnet-bn or tiny'],
      ['--augment P', 'default, mild, robust or none'],
      ['--limit N', 'train on the first N images only'],
      ['--name NAME', 'model name; default digitnet'],
      ['--seed N', ''],
      ['--detach', 'print the training and return without following it'],
      ...TRANSPORT_HELP,
    ],
    notes: ['Ctrl-C stops following; the training carries on (digitq cancel --training <id> stops it).'],
    options: {
      dataset: { type: 'string' },
      base: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      architecture: { type: 'string' },
      augment: { type: 'string' },
      limit: { type: 'string' },
      name: { type: 'string' },
      seed: { type: 'string' },
      detach: { type: 'boolean' },
      ...transportOptions,
    },
    positionals: { min: 0, max: 0 },
    async run(ctx, values) {
      const request: TrainOptions = {
        ...(values.dataset !== undefined && { dataset: str(values.dataset) }),
        ...(values.base !== undefined && { base: str(values.base) }),
        ...(values.epochs !== undefined && { epochs: integer('--epochs', values.epochs) }),
        ...(values['batch-size'] !== undefined && { batch_size: integer('--batch-size', values['batch-size']) }),
        ...(values['learning-rate'] !== undefined && { learning_rate: number('--learning-rate', values['learning-rate']) }),
        ...(values.architecture !== undefined && { architecture: str(values.architecture) as TrainOptions['architecture'] }),
        ...(values.augment !== undefined && { augment: str(values.augment) as TrainOptions['augment'] }),
        ...(values.limit !== undefined && { limit: integer('--limit', values.limit) }),
        ...(values.name !== undefined && { model_name: str(values.name) }),
        ...(values.seed !== undefined && { seed: integer('--seed', values.seed) }),
      };
      const { timeoutMs, transport } = follow(values);
      const started = await ctx.client.train(request, { signal: ctx.signal });
      ctx.stderr.write(`training ${started.id} ${started.status}\n`);
      if (values.detach) {
        ctx.out(ctx.json ? json(started) : trainingText(started));
        return EXIT.ok;
      }
      const progress = trainingProgressView(ctx.stderr);
      const deadline = timeoutMs === undefined ? null : AbortSignal.timeout(timeoutMs);
      const signal = deadline ? AbortSignal.any([ctx.signal, deadline]) : ctx.signal;
      let last = started;
      try {
        for await (const training of ctx.client.trainingEvents(started.id, { transport, signal })) {
          last = training;
          if (training.progress) progress.update(training.progress as TrainingProgress);
        }
      } catch (error) {
        if (deadline?.aborted && !ctx.signal.aborted) throw new DigitqTimeoutError(started.id, timeoutMs!, last.status);
        throw error;
      } finally {
        progress.stop();
      }
      ctx.out(ctx.json ? json(last) : trainingText(last));
      return jobExit(last);
    },
  },
  {
    name: 'models',
    args: '',
    summary: 'List the models and their versions; * marks the active one (GET /v1/models)',
    details: [],
    options: {},
    positionals: { min: 0, max: 0 },
    async run(ctx) {
      const list = await ctx.client.models({ signal: ctx.signal });
      ctx.out(ctx.json ? json(list) : modelsTable(list));
      return EXIT.ok;
    },
  },
  {
    name: 'activate',
    args: '<name@version>',
    summary: 'Make a model version the one that serves (admin: DIGITQ_ADMIN_KEY or --admin-key)',
    details: [['--admin-key K', "the API's ADMIN_API_KEY; default DIGITQ_ADMIN_KEY, else the API key"]],
    options: { 'admin-key': { type: 'string' } },
    positionals: { min: 1, max: 1 },
    async run(ctx, _values, [ref]) {
      const match = /^([^@\s]+)@([^@\s]+)$/.exec(ref!);
      if (!match) throw new UsageError(`${JSON.stringify(ref)} is not name@version (e.g. digitnet@v3)`);
      const version = await ctx.client.activate(match[1]!, match[2]!, { signal: ctx.signal });
      ctx.out(ctx.json ? json(version) : `${version.name}@${version.version} is active\n`);
      return EXIT.ok;
    },
  },
];

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
const str = (value: Values[string]) => (typeof value === 'string' ? value : undefined);

function jobExit(view: { status: string }): number {
  return view.status === 'succeeded' ? EXIT.ok : EXIT.failed;
}

function number(flag: string, value: Values[string]): number {
  const parsed = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`${flag} must be a number, not ${JSON.stringify(value)}`);
  return parsed;
}

function integer(flag: string, value: Values[string]): number {
  const parsed = number(flag, value);
  if (!Number.isInteger(parsed)) throw new UsageError(`${flag} must be an integer, not ${JSON.stringify(value)}`);
  return parsed;
}

/** A flag holding a number from 0 to 1; undefined when absent. */
function probability(flag: string, value: Values[string]): number | undefined {
  if (value === undefined) return undefined;
  const parsed = number(flag, value);
  if (parsed < 0 || parsed > 1) throw new UsageError(`${flag} must be a number from 0 to 1, not ${JSON.stringify(value)}`);
  return parsed;
}

function follow(values: Values): { timeoutMs: number | undefined; transport: Transport } {
  const timeoutS = values.timeout === undefined ? undefined : number('--timeout', values.timeout);
  if (timeoutS !== undefined && timeoutS <= 0) throw new UsageError('--timeout must be more than 0 seconds');
  return { timeoutMs: timeoutS === undefined ? undefined : Math.round(timeoutS * 1000), transport: values.poll ? 'poll' : 'auto' };
}

/** Every file read before any request, so a typo fails fast (exit 2) instead of half-way through. */
async function readImages(files: string[]): Promise<File[]> {
  return Promise.all(
    files.map(async (file) => {
      try {
        return new File([new Uint8Array(await readFile(file))], basename(file));
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }),
  );
}
