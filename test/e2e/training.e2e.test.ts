/**
 * Training as a queued job and hot reload of model versions, end to end:
 * API, an inference worker and a training worker as real processes, each
 * with its own MODELS_DIR as if on its own machine, sharing only Redis.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { startTestReceiver, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { MODELS_DIR, System, sleep, type JobBody } from './system.ts';

const temps: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `digitq-${name}-`));
  temps.push(dir);
  return dir;
}

/** A machine's own models folder holding a copy of the committed model. */
function modelsCopy(): string {
  const dir = tempDir('models');
  cpSync(join(MODELS_DIR, 'digitnet'), join(dir, 'digitnet'), { recursive: true });
  return dir;
}

async function json(res: Response): Promise<JobBody> {
  return (await res.json()) as JobBody;
}

async function startTraining(system: System, body: object): Promise<JobBody> {
  const res = await fetch(`${system.baseUrl}/v1/trainings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const training = await json(res);
  expect(res.status, JSON.stringify(training)).toBe(202);
  return training;
}

async function predict(system: System, png: Buffer): Promise<{ status: number; body: JobBody }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
  const res = await fetch(`${system.baseUrl}/predict`, { method: 'POST', body: form });
  return { status: res.status, body: await json(res) };
}

const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const SHORT_TRAINING = { dataset: 'mnist', architecture: 'tiny', epochs: 2, limit: 1200, augment: 'none', validation_split: 0.1, model_name: 'digitnet' };

afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('training jobs and the model registry', () => {
  const trainerModels = modelsCopy();
  const runsDir = tempDir('runs');
  const system = new System({
    workers: 0,
    env: { MODELS_DIR: trainerModels, TRAINING_RUNS_DIR: runsDir, MODEL_POLL_MS: '200', WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_SECRET },
  });
  let receiver: TestReceiver;
  /** Deliveries so far, each verified with the standardwebhooks package (verify throws on a bad signature). */
  const events = () => receiver.requests.map((r) => new Webhook(WEBHOOK_SECRET).verify(r.body, r.headers as Record<string, string>) as { type: string; data: JobBody });

  beforeAll(async () => {
    await system.start();
    // Inference runs on "another machine" whose models folder starts empty: it must fetch from the registry.
    await system.startWorker({ MODELS_DIR: tempDir('empty-models') }, ['--device', 'cpu', '--queues', 'inference']);
    await system.startWorker({}, ['--device', 'cpu', '--queues', 'training,webhooks']);
    receiver = await startTestReceiver();
  }, 180_000);
  afterAll(async () => {
    await receiver?.close();
    await system.stop();
  }, 60_000);

  it('a worker with an empty MODELS_DIR serves the active version it fetched', async () => {
    const { status, body } = await predict(system, await renderDigitImage({ digit: 4, format: 'png' }));
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.prediction).toBe(4);
    const models = await json(await fetch(`${system.baseUrl}/v1/models`));
    const digitnet = models.data.find((m: JobBody) => m.name === 'digitnet');
    expect(body.model).toEqual({ name: 'digitnet', version: digitnet.active_version });
  });

  it('trains with visible progress, registers a version, and hot-swaps it in without failing a request', async () => {
    const before = await json(await fetch(`${system.baseUrl}/v1/models`));
    const oldVersion = before.data.find((m: JobBody) => m.name === 'digitnet').active_version as string;

    const training = await startTraining(system, { ...SHORT_TRAINING, webhook: receiver.url(), webhook_events_filter: ['training.progress', 'training.completed'] });
    const seen = new Set<string>();
    let view: JobBody = training;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
      view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
      if (view.progress) seen.add(`${view.progress.epoch}.${view.progress.batch}`);
      if (['succeeded', 'failed', 'canceled'].includes(view.status)) break;
    }
    expect(view.status, system.logs()).toBe('succeeded');
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(view.history).toHaveLength(2);
    expect(view.model).toMatchObject({ name: 'digitnet', promoted: false });
    const newVersion = view.model.version as string;
    expect(newVersion).not.toBe(oldVersion);

    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !events().some((e) => e.type === 'training.completed'); ) await sleep(100);
    const completed = events().filter((e) => e.type === 'training.completed');
    expect(completed).toHaveLength(1);
    expect(completed[0]!.data).toMatchObject({ id: training.id, status: 'succeeded', model: { version: newVersion } });
    expect(events().filter((e) => e.type === 'training.progress').length).toBeGreaterThanOrEqual(1);

    const registered = await json(await fetch(`${system.baseUrl}/v1/models/digitnet/${newVersion}`));
    expect(registered.metrics.test_accuracy).toBeGreaterThan(0.5);
    expect(registered.active).toBe(false);
    // Every new version gets its ONNX export, checksummed like the tfjs files, so other machines fetch it too.
    expect(registered.files['model.onnx']).toMatch(/^[0-9a-f]{64}$/);
    expect(existsSync(join(trainerModels, 'digitnet', newVersion, 'model.onnx'))).toBe(true);

    // A stream of requests runs across the activation; not one may fail.
    const png = await renderDigitImage({ digit: 7, format: 'png' });
    const results: { status: number; version?: string }[] = [];
    let activatedAt = -1;
    const stream = (async () => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        const { status, body } = await predict(system, png);
        results.push({ status, version: body.model?.version });
        if (activatedAt >= 0 && results.length > activatedAt + 5 && body.model?.version === newVersion) break;
      }
    })();
    await sleep(500);
    const activated = await fetch(`${system.baseUrl}/v1/models/digitnet/${newVersion}/activate`, { method: 'POST' });
    expect(activated.status).toBe(200);
    activatedAt = results.length;
    await stream;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.slice(0, activatedAt).every((r) => r.version === oldVersion)).toBe(true);
    expect(results.at(-1)!.version).toBe(newVersion);
    const after = await json(await fetch(`${system.baseUrl}/v1/models`));
    expect(after.data.find((m: JobBody) => m.name === 'digitnet').active_version).toBe(newVersion);
  }, 180_000);

  it('cancel mid-training stops it and leaves no partial model folder or checkpoint', async () => {
    const versionsBefore = readdirSync(join(trainerModels, 'digitnet')).sort();
    const training = await startTraining(system, { ...SHORT_TRAINING, epochs: 50 });
    let view: JobBody = training;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && view.status !== 'failed' && !(view.progress?.batch > 2); await sleep(100)) {
      view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
    }
    expect(view.status).toBe('processing');
    const canceled = await fetch(`${system.baseUrl}/v1/trainings/${training.id}/cancel`, { method: 'POST' });
    expect(canceled.status).toBe(200);
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && view.status !== 'canceled'; await sleep(200)) {
      view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
    }
    expect(view.status).toBe('canceled');
    expect(view.error.code).toBe('JOB_CANCELED');
    expect(view.model).toBeNull();
    expect(readdirSync(join(trainerModels, 'digitnet')).sort()).toEqual(versionsBefore);
    expect(existsSync(join(runsDir, training.id as string))).toBe(false);
  }, 120_000);

  it('a training worker stopped with SIGTERM hands the training back, and it resumes from its last epoch', async () => {
    const trainer = system.workers.find((w) => w.lines.some((l) => l.includes('"queues":["training"')))!;
    const training = await startTraining(system, { ...SHORT_TRAINING, epochs: 4 });
    let view: JobBody = training;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !(view.progress?.epoch >= 2); await sleep(100)) {
      view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
    }
    expect(view.status).toBe('processing');
    trainer.child.kill('SIGTERM');
    expect(await trainer.exited).toEqual({ code: 0, signal: null });
    view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
    expect(view.status).toBe('queued');
    expect(existsSync(join(runsDir, training.id as string, 'checkpoint', 'state.json'))).toBe(true);

    const successor = await system.startWorker({}, ['--device', 'cpu', '--queues', 'training,webhooks']);
    for (const deadline = Date.now() + 90_000; Date.now() < deadline && !['succeeded', 'failed'].includes(view.status); await sleep(200)) {
      view = await json(await fetch(`${system.baseUrl}/v1/trainings/${training.id}`));
    }
    expect(view.status, system.logs()).toBe('succeeded');
    expect(view.history.map((h: JobBody) => h.epoch)).toEqual([1, 2, 3, 4]);
    expect(successor.lines.some((l) => /"resume":true/.test(l))).toBe(true);
  }, 180_000);

  it('rejects invalid training requests with 400 and names the field', async () => {
    const res = await fetch(`${system.baseUrl}/v1/trainings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ epochs: 0 }) });
    expect(res.status).toBe(400);
    expect((await json(res)).error.message).toContain('epochs');
    const missing = await fetch(`${system.baseUrl}/v1/models/digitnet/v999/activate`, { method: 'POST' });
    expect(missing.status).toBe(404);
  });
});
