/**
 * The README is executable: the system is started as the README starts it
 * (`npm start`'s launcher, from the production build), then every shell
 * example in README.md that states its answer is run as written (its port
 * swapped for the test's) and its answer checked. An example that no longer
 * works fails the suite.
 *
 * The convention, in ```bash blocks: a command (continued with `\`), then a
 * comment stating the answer:
 *   `# => 200 {"prediction":7}`  HTTP status, and fields the JSON answer must contain (curl commands)
 *   `# => exit 0 "text"`          exit code, and text the output must contain (any other command; `\"` for a quote)
 * `JOB_ID` and `TRAINING_ID` in a command stand for the id of the last job or training an example created.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, appArgs, freePort, testRedisUrl } from '@digitq/test-utils';
import { DATA_DIR, MODELS_DIR } from './system.ts';

/** The port the README's examples use. */
const README_PORT = 3000;

export interface ReadmeExample {
  /** The README line the command starts on, for failure messages. */
  line: number;
  command: string;
  expect: { kind: 'http'; status: number; fields: Record<string, unknown> } | { kind: 'exit'; code: number; output: string | null };
}

/** The examples of every ```bash block, in order: commands followed by a `# =>` line. */
export function readmeExamples(markdown: string): ReadmeExample[] {
  const examples: ReadmeExample[] = [];
  const lines = markdown.split('\n');
  let inBash = false;
  let pending: { line: number; command: string } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^```/.test(line)) {
      inBash = !inBash && /^```(bash|sh)\s*$/.test(line);
      pending = null;
      continue;
    }
    if (!inBash) continue;
    const expectation = /^#\s*=>\s*(.*)$/.exec(line.trim());
    if (expectation && pending) {
      examples.push({ ...pending, expect: parseExpectation(expectation[1]!, i + 1) });
      pending = null;
      continue;
    }
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    let command = line;
    const start = i + 1;
    while (command.trimEnd().endsWith('\\') && i + 1 < lines.length) command = `${command.trimEnd().slice(0, -1)} ${lines[++i]!.trim()}`;
    pending = { line: start, command: command.replace(/\s+#\s.*$/, '').trim() };
  }
  return examples;
}

function parseExpectation(text: string, line: number): ReadmeExample['expect'] {
  const http = /^(\d{3})(?:\s+(\{.*\}))?$/.exec(text.trim());
  if (http) return { kind: 'http', status: Number(http[1]), fields: http[2] ? (JSON.parse(http[2]) as Record<string, unknown>) : {} };
  const exit = /^exit\s+(\d+)(?:\s+"(.*)")?$/.exec(text.trim());
  if (exit) return { kind: 'exit', code: Number(exit[1]), output: exit[2]?.replaceAll('\\"', '"') ?? null };
  throw new Error(`README line ${line}: cannot read the expected answer ${JSON.stringify(text)}`);
}

describe('the README, run as written', () => {
  const examples = readmeExamples(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
  let launcher: ChildProcess;
  const output: string[] = [];
  let port = 0;
  // The README's corrections go to a folder of the test's own, not the repository's .data/feedback.
  const feedbackDir = mkdtempSync(join(tmpdir(), 'digitq-readme-feedback-'));

  beforeAll(async () => {
    port = await freePort();
    launcher = spawn(process.execPath, appArgs('launcher'), {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: testRedisUrl(),
        QUEUE_PREFIX: `readme-${randomUUID().slice(0, 8)}`,
        PORT: String(port),
        MODELS_DIR,
        DATA_DIR,
        FEEDBACK_DIR: feedbackDir,
        LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [launcher.stdout!, launcher.stderr!]) createInterface({ input: stream }).on('line', (line) => output.push(line));
    for (const deadline = Date.now() + 120_000; !output.includes('digitq is running'); ) {
      if (launcher.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output.slice(-30).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 150_000);

  afterAll(async () => {
    if (launcher && launcher.exitCode === null) {
      const exited = new Promise((resolve) => launcher.once('exit', resolve));
      launcher.kill('SIGTERM');
      await exited;
    }
    rmSync(feedbackDir, { recursive: true, force: true });
  }, 60_000);

  it('has examples to run, each stating its answer', () => {
    expect(examples.length).toBeGreaterThan(5);
  });

  it('answers every example as the README says', async () => {
    const ids: Record<string, string> = {};
    for (const example of examples) {
      const command = example.command
        .replaceAll(`127.0.0.1:${README_PORT}`, `127.0.0.1:${port}`)
        .replaceAll('localhost:' + README_PORT, `127.0.0.1:${port}`)
        .replace(/\b(JOB_ID|TRAINING_ID)\b/g, (name) => ids[name] ?? name);
      const where = `README line ${example.line}: ${example.command}`;
      if (example.expect.kind === 'http') {
        expect(command.startsWith('curl '), `${where}: an HTTP example must be a curl command`).toBe(true);
        const run = spawnSync('bash', ['-c', command.replace(/^curl /, `curl -s -w '\\n%{http_code}' `)], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
        const out = run.stdout.trimEnd();
        const status = Number(out.slice(out.lastIndexOf('\n') + 1));
        const text = out.slice(0, out.lastIndexOf('\n'));
        const body = text.trim().startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {};
        expect({ status, body }, `${where}\n${text}`).toMatchObject({ status: example.expect.status, body: example.expect.fields });
        if (typeof body.id === 'string') ids[/\/v1\/trainings/.test(command) ? 'TRAINING_ID' : 'JOB_ID'] = body.id;
      } else {
        const run = spawnSync('bash', ['-c', command], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 180_000, env: { ...process.env, DIGITQ_URL: `http://127.0.0.1:${port}` } });
        expect(run.status, `${where}\n${run.stdout}\n${run.stderr}`).toBe(example.expect.code);
        if (example.expect.output !== null) expect(run.stdout, where).toContain(example.expect.output);
      }
    }
  }, 600_000);
});
