/**
 * Serving (issue 16) across the real API and worker processes: min_confidence
 * turning a low-confidence answer into `prediction: null` through POST
 * /predict and through a job, and shadow mode: a candidate version run on
 * every job (SHADOW_FRACTION=1) after the answer, answers unchanged, its
 * comparisons counted in the worker's metrics and in Redis; a shadow model
 * that cannot load never fails a job.
 *
 * The models folder holds copies of the committed model: v1 (active, with a
 * report whose calibration temperature softens it, so no confidence is 1),
 * v2 (the candidate) and v3 (broken: checksums intact, no engine loads it).
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { ShadowStats } from '@digitq/jobs';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort } from '@digitq/test-utils';
import { MODELS_DIR, pollJob, useSystem, type JobBody, type ProcessHandle, type System } from './system.ts';

type Json = Record<string, any>;

const DIGITS = [3, 7, 0, 5];
const ACTIVE_TEMPERATURE = 1.5;

const modelsDir = mkdtempSync(join(tmpdir(), 'digitq-serving-e2e-'));
afterAll(() => rmSync(modelsDir, { recursive: true, force: true }));

function versionFolder(version: string, options: { temperature?: number; broken?: boolean } = {}): void {
  const dir = join(modelsDir, 'digitnet', version);
  mkdirSync(join(modelsDir, 'digitnet'), { recursive: true });
  cpSync(join(MODELS_DIR, 'digitnet', 'v1'), dir, { recursive: true });
  const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  metadata.version = version;
  if (options.broken) {
    for (const [file, junk] of [['model.json', '{"modelTopology": "not a model"}'], ['model.onnx', 'not an onnx model']] as const) {
      writeFileSync(join(dir, file), junk);
      metadata.files[file] = createHash('sha256').update(junk).digest('hex');
    }
  }
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata));
  // The committed version's own report (if any) is replaced by this test's, or removed.
  rmSync(join(dir, 'report.json'), { force: true });
  if (options.temperature !== undefined) {
    const report = {
      model: { name: 'digitnet', version },
      created_at: new Date().toISOString(),
      datasets: {},
      calibration: { temperature: options.temperature, fitted_on: 'e2e', count: 1, ece_before: 0.02, ece_after: 0.01 },
    };
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report));
  }
}
versionFolder('v1', { temperature: ACTIVE_TEMPERATURE });
versionFolder('v2');
versionFolder('v3', { broken: true });
writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');

const digitPng = (digit: number) => renderDigitImage({ digit, width: 280, height: 280, format: 'png' });

function imageForm(field: string, files: Buffer[], extra: Record<string, string> = {}): FormData {
  const body = new FormData();
  files.forEach((bytes, i) => body.append(field, new Blob([new Uint8Array(bytes)], { type: 'image/png' }), `${i}.png`));
  for (const [k, v] of Object.entries(extra)) body.append(k, v);
  return body;
}

async function predict(system: System, png: Buffer, extra: Record<string, string> = {}, query = ''): Promise<Json> {
  const res = await fetch(`${system.baseUrl}/predict${query}`, { method: 'POST', body: imageForm('file', [png], extra) });
  const body = (await res.json()) as Json;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** One job over `pngs`, waited for. */
async function runJob(system: System, pngs: Buffer[], fields: Record<string, string> = {}): Promise<JobBody> {
  const res = await fetch(`${system.baseUrl}/v1/jobs`, { method: 'POST', body: imageForm('image', pngs, fields) });
  const { id } = (await res.json()) as Json;
  const job = await pollJob(system.baseUrl, id as string, (j) => j.status === 'succeeded' || j.status === 'failed');
  expect(job.status, system.logs()).toBe('succeeded');
  return job;
}

async function stopWorker(worker: ProcessHandle): Promise<void> {
  worker.child.kill('SIGTERM');
  await worker.exited;
}

/** A worker with its metrics on a port of its own. */
async function startWorker(system: System, env: Record<string, string>): Promise<{ worker: ProcessHandle; metrics: () => Promise<string> }> {
  const port = await freePort();
  const worker = await system.startWorker(env, ['--device', 'cpu', '--queues', 'inference', '--metrics-port', String(port)]);
  return { worker, metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text() };
}

/** The value of a metric's sample whose labels include `labels` (0 when there is none). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 50))) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
  }
}

describe('serving: min_confidence and shadow mode', () => {
  const system = useSystem({ workers: 0, env: { MODELS_DIR: modelsDir } });
  let pngs: Buffer[];
  /** Each digit's prediction from a worker without shadow mode. */
  let plain: Json[];

  it('min_confidence: below it the answer is prediction null, reason "uncertain", with the confidence and probabilities, through /predict and a job', async () => {
    pngs = await Promise.all(DIGITS.map(digitPng));
    const { worker } = await startWorker(system, {});
    try {
      const answer = await predict(system, pngs[0]!);
      expect(answer.prediction).toBe(DIGITS[0]);
      // The active version's report softens its probabilities: the answer is never fully sure.
      expect(answer.confidence).toBeLessThan(1);
      const above = (1 + answer.confidence) / 2;

      const uncertain = await predict(system, pngs[0]!, { min_confidence: String(above) });
      expect(uncertain).toMatchObject({ prediction: null, reason: 'uncertain', confidence: answer.confidence, probabilities: answer.probabilities });
      // The query says the same; a threshold equal to the confidence still answers the digit.
      expect(await predict(system, pngs[0]!, {}, `?min_confidence=${above}`)).toMatchObject({ prediction: null, reason: 'uncertain' });
      const atConfidence = await predict(system, pngs[0]!, { min_confidence: String(answer.confidence) });
      expect(atConfidence.prediction).toBe(DIGITS[0]);
      expect(atConfidence.reason).toBeUndefined();

      const res = await fetch(`${system.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', Prefer: 'wait=20' },
        body: JSON.stringify({ images: [pngs[0]!.toString('base64'), pngs[1]!.toString('base64')], min_confidence: above }),
      });
      const job = (await res.json()) as Json;
      expect(job.status, JSON.stringify(job)).toBe('succeeded');
      expect(job.output.predictions[0]).toMatchObject({ prediction: null, reason: 'uncertain', confidence: answer.confidence });
      // Polling the job later reads the same answer the worker recorded.
      expect((await pollJob(system.baseUrl, job.id as string, () => true)).output).toEqual(job.output);

      plain = (await runJob(system, pngs)).output.predictions as Json[];
      expect(plain.map((p) => p.prediction)).toEqual(DIGITS);
    } finally {
      await stopWorker(worker);
    }
  }, 120_000);

  it('SHADOW_FRACTION=1: answers identical to a worker without shadow mode; agreement, counts and latency in metrics and Redis', async () => {
    const { worker, metrics } = await startWorker(system, { SHADOW_MODEL: 'digitnet@v2', SHADOW_FRACTION: '1' });
    const redis = new Redis(system.redisUrl);
    try {
      const jobs = [await runJob(system, pngs), await runJob(system, pngs.slice(0, 1))];
      expect(jobs[0]!.output.predictions).toEqual(plain);
      expect(jobs[1]!.output.predictions).toEqual(plain.slice(0, 1));
      expect(jobs[0]!.model).toEqual({ name: 'digitnet', version: 'v1' });

      const images = DIGITS.length + 1;
      const text = await until(metrics, (t) => sample(t, 'digitq_shadow_jobs_total', { outcome: 'compared' }) >= 2);
      const shadowLabels = { model: 'digitnet', version: 'v2' };
      expect(sample(text, 'digitq_shadow_jobs_total', { ...shadowLabels, outcome: 'compared' }), worker.lines.slice(-20).join('\n')).toBe(2);
      expect(sample(text, 'digitq_shadow_predictions_total', shadowLabels)).toBe(images);
      // The same weights read the same digits (v2 is v1 without v1's calibration, which never changes a digit).
      expect(sample(text, 'digitq_shadow_agreements_total', shadowLabels)).toBe(images);
      for (const role of ['active', 'shadow']) expect(sample(text, 'digitq_shadow_compute_seconds_count', { ...shadowLabels, role })).toBe(2);

      const stats = await new ShadowStats(redis, system.prefix, { resultTtlS: 3600, maxCount: 1000 }).read('digitnet', 'v2', [
        { job_id: jobs[0]!.id as string, index: 1, label: DIGITS[1]! },
        { job_id: jobs[1]!.id as string, index: 0, label: 9 },
      ]);
      expect(stats).toMatchObject({ jobs: 2, images, agreement: 1, feedback: { count: 2, active_correct: 1, shadow_correct: 1 } });
      expect(stats.latency_ms.active_p50).toBeGreaterThan(0);
      expect(stats.latency_ms.shadow_p50).toBeGreaterThan(0);

      // A job the candidate answered itself is not compared with itself.
      expect((await runJob(system, pngs.slice(0, 1), { model: 'digitnet@v2' })).model).toEqual({ name: 'digitnet', version: 'v2' });
      const skipped = await until(metrics, (t) => sample(t, 'digitq_shadow_jobs_total', { outcome: 'skipped' }) >= 1);
      expect(sample(skipped, 'digitq_shadow_jobs_total', { ...shadowLabels, outcome: 'skipped' })).toBe(1);
      expect(sample(skipped, 'digitq_shadow_predictions_total', shadowLabels)).toBe(images);
    } finally {
      await redis.quit();
      await stopWorker(worker);
    }
  }, 120_000);

  it('a shadow model that cannot load never fails a job: the failure is logged and counted', async () => {
    const { worker, metrics } = await startWorker(system, { SHADOW_MODEL: 'digitnet@v3', SHADOW_FRACTION: '1' });
    try {
      const job = await runJob(system, pngs);
      expect(job.output.predictions).toEqual(plain);
      const text = await until(metrics, (t) => sample(t, 'digitq_shadow_jobs_total', { outcome: 'failed' }) >= 1);
      expect(sample(text, 'digitq_shadow_jobs_total', { model: 'digitnet', version: 'v3', outcome: 'failed' })).toBe(1);
      expect(sample(text, 'digitq_shadow_predictions_total', { model: 'digitnet', version: 'v3' })).toBe(0);
      await worker.waitForLine(/the shadow model failed to load/, 5000);
      // The next job is answered as well; its comparison fails at once (no second load attempt within a minute).
      expect((await runJob(system, pngs.slice(0, 1))).output.predictions).toEqual(plain.slice(0, 1));
      const after = await until(metrics, (t) => sample(t, 'digitq_shadow_jobs_total', { outcome: 'failed' }) >= 2);
      expect(sample(after, 'digitq_shadow_jobs_total', { model: 'digitnet', version: 'v3', outcome: 'failed' })).toBe(2);
      expect(worker.lines.filter((l) => /the shadow model failed to load/.test(l))).toHaveLength(1);
    } finally {
      await stopWorker(worker);
    }
  }, 120_000);
});
