/**
 * @digitq/client and the digitq CLI against the real system: API and worker
 * processes (the production build), Redis, the committed model, images drawn
 * in the test. One system without API keys (with an inference and a training
 * worker, on a copy of the models), one with API_KEYS and no worker, where
 * jobs stay queued.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DigitqClient, DigitqError, DigitqUnreachableError, type JobView } from '@digitq/client';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort } from '@digitq/test-utils';
import { MODELS_DIR, REPO_ROOT, useSystem } from './system.ts';

const CLI = join(REPO_ROOT, 'packages', 'client', 'dist', 'cli.js');
const API_KEY = 'sk_test_client_0123456789abcdef';

const temps: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `digitq-client-${name}-`));
  temps.push(dir);
  return dir;
}
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const digitPng = (digit: number) => renderDigitImage({ digit, width: 400, height: 320, format: 'png' });

/** Rendered digits written as files for the CLI: `<dir>/<digit>.png`. */
async function digitFiles(digits: number[]): Promise<string[]> {
  const dir = tempDir('images');
  return Promise.all(
    digits.map(async (digit) => {
      const file = join(dir, `${digit}.png`);
      writeFileSync(file, await digitPng(digit));
      return file;
    }),
  );
}

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI with only the given environment (no DIGITQ_* of the machine running the tests). */
function digitq(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A fetch that records the paths it was asked for (and can refuse some with a 404, as a server without them would). */
function recordingFetch(refuse?: RegExp): { recorded: typeof fetch; paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    recorded: async (input, init) => {
      const path = new URL(String(input)).pathname;
      paths.push(path);
      if (refuse?.test(path)) return Response.json({ error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } }, { status: 404 });
      return fetch(input, init);
    },
  };
}

/** Whether the API's own OpenAPI document lists the path (server-sent events arrived with issue 13). */
async function hasPath(baseUrl: string, path: string): Promise<boolean> {
  const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  return path in document.paths;
}

describe('client and CLI against the system', () => {
  const models = tempDir('models');
  cpSync(join(MODELS_DIR, 'digitnet'), join(models, 'digitnet'), { recursive: true });
  const system = useSystem({ workers: 1, env: { MODELS_DIR: models, TRAINING_RUNS_DIR: tempDir('runs') } }, async (s) => {
    await s.startWorker({}, ['--device', 'cpu', '--queues', 'training']);
  });
  const env = () => ({ DIGITQ_URL: system.baseUrl });

  it('predicts a rendered digit from bytes and from a File', async () => {
    const client = new DigitqClient({ baseUrl: system.baseUrl });
    const seven = await client.predict(await digitPng(7));
    expect(seven).toMatchObject({ prediction: 7, model: { name: 'digitnet' }, job_id: expect.any(String) });
    const three = await client.predict(new File([new Uint8Array(await digitPng(3))], 'three.png', { type: 'image/png' }));
    expect(three.prediction).toBe(3);
  });

  it('submit and wait over server-sent events', async ({ skip }) => {
    if (!(await hasPath(system.baseUrl, '/v1/jobs/{id}/events'))) skip('this API has no GET /v1/jobs/{id}/events');
    const { recorded, paths } = recordingFetch();
    const client = new DigitqClient({ baseUrl: system.baseUrl, fetch: recorded });
    const job = await client.submit([await digitPng(2), await digitPng(5)]);
    const statuses: string[] = [];
    let done: JobView | undefined;
    for await (const view of client.events(job.id, { transport: 'sse' })) {
      statuses.push(view.status);
      done = view;
    }
    expect(done?.status).toBe('succeeded');
    expect(done?.output?.predictions.map((p) => p.prediction)).toEqual([2, 5]);
    expect(statuses.at(-1)).toBe('succeeded');
    // Only the stream was read: no polling.
    expect(paths).toEqual(['/v1/jobs', `/v1/jobs/${job.id}/events`]);

    // wait() in its default mode takes the stream too.
    paths.length = 0;
    expect((await client.wait(job.id, { timeoutMs: 30_000 })).status).toBe('succeeded');
    expect(paths).toEqual([`/v1/jobs/${job.id}/events`]);
  });

  it('submit and wait by polling, when the server has no event stream', async () => {
    const { recorded, paths } = recordingFetch(/\/events$/);
    const client = new DigitqClient({ baseUrl: system.baseUrl, fetch: recorded });
    const job = await client.submit(await digitPng(4));
    const done = await client.wait(job.id, { timeoutMs: 30_000 });
    expect(done.status).toBe('succeeded');
    expect(done.output?.predictions[0]?.prediction).toBe(4);
    expect(paths[1]).toBe(`/v1/jobs/${job.id}/events`);
    expect(paths.slice(2).every((p) => p === `/v1/jobs/${job.id}`)).toBe(true);
    expect(paths.length).toBeGreaterThan(2);

    // And when asked to poll, no stream is opened.
    paths.length = 0;
    expect((await client.wait(job.id, { transport: 'poll' })).status).toBe('succeeded');
    expect(paths).toEqual([`/v1/jobs/${job.id}`]);
  });

  it('a refused request is a DigitqError with the server’s code and request id; a closed port is DigitqUnreachableError', async () => {
    const client = new DigitqClient({ baseUrl: system.baseUrl });
    const missing = await client.get('no-such-job').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DigitqError);
    expect(missing).toMatchObject({ status: 404, code: 'JOB_NOT_FOUND', requestId: expect.any(String) });
    const closed = new DigitqClient({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    await expect(closed.models()).rejects.toBeInstanceOf(DigitqUnreachableError);
  });

  it('CLI predict: a table, and JSON with --json', async () => {
    const files = await digitFiles([1, 8]);
    const table = await digitq(['predict', ...files], env());
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^FILE\s+DIGIT\s+CONFIDENCE\s+MODEL$/);
    expect(lines[1]).toMatch(new RegExp(`^${files[0]}\\s+1\\s+\\d+\\.\\d%\\s+digitnet@v\\d+$`));
    expect(lines[2]).toMatch(new RegExp(`^${files[1]}\\s+8\\s`));
    expect(table.stderr).toBe('');

    const json = await digitq(['predict', '--json', files[1]!], env());
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ file: files[1], prediction: 8, confidence: expect.any(Number) })]);
  });

  it('CLI submit --wait, status, wait, and cancel of a finished job', async () => {
    const files = await digitFiles([6, 0]);
    const waited = await digitq(['submit', '--wait', '--timeout', '30', ...files], env());
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toMatch(/^job \S+ succeeded \(digitnet@v\d+\)\n/);
    expect(waited.stdout).toMatch(new RegExp(`1\\s+${files[0]}\\s+6\\s`));
    expect(waited.stdout).toMatch(new RegExp(`2\\s+${files[1]}\\s+0\\s`));

    const submitted = await digitq(['submit', '--json', files[0]!], env());
    expect(submitted.code, submitted.stderr).toBe(0);
    const id = (JSON.parse(submitted.stdout) as JobView).id;
    const waitedById = await digitq(['wait', id, '--poll'], env());
    expect(waitedById.code, waitedById.stderr).toBe(0);
    expect(waitedById.stdout).toContain(`job ${id} succeeded`);
    const status = await digitq(['status', id, '--json'], env());
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, status: 'succeeded', output: { predictions: [{ prediction: 6 }] } });

    const cancel = await digitq(['cancel', id], env());
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/^digitq: JOB_FINISHED: .+ \(HTTP 409, request \S+\)\n$/);
  });

  it('CLI models, and train with progress fed by the event stream', async () => {
    const models = await digitq(['models'], env());
    expect(models.code, models.stderr).toBe(0);
    expect(models.stdout).toMatch(/^MODEL\s+ACTIVE\s+ARCHITECTURE\s+TEST ACCURACY\s+CREATED\n/);
    expect(models.stdout).toMatch(/digitnet@v\d+\s+\*\s/);

    // A model of its own name, so the digitnet the other tests use stays as it is.
    const train = await digitq(['train', '--dataset', 'mnist', '--epochs', '2', '--limit', '600', '--architecture', 'tiny', '--augment', 'none', '--name', 'clitest', '--timeout', '120'], env());
    expect(train.code, train.stderr).toBe(0);
    // stderr is not a terminal here: one line per finished epoch instead of a bar.
    expect(train.stderr).toMatch(/^training \S+ queued\nepoch 1\/2 {2}loss \d+\.\d{4} {2}acc \d+\.\d%/);
    expect(train.stderr).toMatch(/\nepoch 2\/2 /);
    expect(train.stdout).toMatch(/^training \S+ succeeded → clitest@v1, test accuracy \d+\.\d%/);
    if (await hasPath(system.baseUrl, '/v1/trainings/{id}/events')) {
      const id = /^training (\S+) queued/.exec(train.stderr)![1]!;
      expect(system.api.lines.some((line) => line.includes(`/v1/trainings/${id}/events`))).toBe(true);
    }
  }, 150_000);

  it('CLI usage errors exit 2, an unreachable server exits 3, each said in one line', async () => {
    for (const args of [['predict'], ['predict', '--bogus', 'x.png'], ['frobnicate'], ['status', 'a', 'b'], ['train', '--epochs', 'many'], ['predict', '/no/such/file.png'], ['activate', 'digitnet']]) {
      const result = await digitq(args, env());
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/^digitq: [^\n]+\n$/);
      expect(result.stdout).toBe('');
    }
    const unreachable = await digitq(['models'], { DIGITQ_URL: `http://127.0.0.1:${await freePort()}` });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/^digitq: cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/models: ECONNREFUSED\n$/);
  });

  it('CLI --help for every command', async () => {
    const main = await digitq(['--help']);
    expect(main.code).toBe(0);
    const commands = [...main.stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map((m) => m[1]!);
    expect(commands).toEqual(['predict', 'submit', 'status', 'wait', 'cancel', 'train', 'models', 'activate']);
    for (const command of commands) {
      const help = await digitq([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: digitq ${command}`));
    }
  });
});

describe('client and CLI against a system with API keys', () => {
  // No worker: jobs stay queued, to be canceled.
  const system = useSystem({ workers: 0, env: { API_KEYS: `alice:${API_KEY}` } });

  it('a 401 is a DigitqError UNAUTHORIZED with the request id; the key opens the API', async () => {
    const anonymous = new DigitqClient({ baseUrl: system.baseUrl });
    const error = await anonymous.models().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DigitqError);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHORIZED', requestId: expect.stringMatching(/\S/) });
    await expect(new DigitqClient({ baseUrl: system.baseUrl, apiKey: 'sk_test_wrong_0123456789abc' }).models()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const jobs = await new DigitqClient({ baseUrl: system.baseUrl, apiKey: API_KEY }).list();
    expect(jobs).toEqual({ data: [], next_cursor: null });
  });

  it('CLI: 401 exits 1 naming the code and request; cancel a queued job; wait on it exits 1', async () => {
    const [file] = await digitFiles([9]);
    const refused = await digitq(['submit', file!], { DIGITQ_URL: system.baseUrl });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^digitq: UNAUTHORIZED: .+ \(HTTP 401, request \S+\)\n$/);

    const env = { DIGITQ_URL: system.baseUrl, DIGITQ_API_KEY: API_KEY };
    const submitted = await digitq(['submit', '--json', file!], env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = JSON.parse(submitted.stdout) as JobView;
    expect(job.status).toBe('queued');

    const canceled = await digitq(['cancel', job.id], env);
    expect(canceled.code, canceled.stderr).toBe(0);
    expect(canceled.stdout).toMatch(new RegExp(`^job ${job.id} canceled`));
    const waited = await digitq(['wait', job.id], env);
    expect(waited.code).toBe(1);
    expect(waited.stdout).toMatch(new RegExp(`^job ${job.id} canceled`));
  });
});
