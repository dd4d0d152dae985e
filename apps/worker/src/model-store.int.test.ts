/**
 * Hot reload as one worker sees it: the registry's active pointer moves, the
 * store loads the new version in the background and swaps it in; a version
 * that cannot load leaves the old one serving. Variants (fp16, int8) as jobs
 * name them or as the registry activates them, and a job's result saying
 * which one served it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { QUEUE_NAMES } from '@digitq/contracts';
import { MNIST_PIXELS, loadMnist } from '@digitq/datasets';
import { CancelRequests, InferenceJobs, JobWaiter, createQueue, createQueueEvents } from '@digitq/jobs';
import { initBackend } from '@digitq/model';
import { ModelRegistry } from '@digitq/registry';
import { ConnectionHealth } from '@digitq/service';
import { testRedisUrl } from '@digitq/test-utils';
import { startInferenceConsumer } from './consumers/inference.consumer.ts';
import { createWorkerMetrics } from './metrics.ts';
import { ModelNotFoundError, ModelStore } from './model-store.ts';

const COMMITTED = resolve(import.meta.dirname, '../../../models/digitnet/v1');
const redis = new Redis(testRedisUrl());
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-store-'));
  dirs.push(dir);
  return dir;
};

/** A copy of the committed model registered as `version`; `breakModel` makes its model.json unloadable (checksums still match). */
function versionFolder(modelsDir: string, version: string, breakModel = false): string {
  const dir = join(modelsDir, 'digitnet', version);
  mkdirSync(join(modelsDir, 'digitnet'), { recursive: true });
  cpSync(COMMITTED, dir, { recursive: true });
  const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  metadata.version = version;
  if (breakModel) {
    // Whichever engine serves it (tfjs reads model.json, ONNX Runtime model.onnx) finds a model it cannot load, checksums intact.
    for (const [file, junk] of [['model.json', '{"modelTopology": "not a model"}'], ['model.onnx', 'not an onnx model']] as const) {
      writeFileSync(join(dir, file), junk);
      metadata.files[file] = createHash('sha256').update(readFileSync(join(dir, file))).digest('hex');
    }
  }
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata));
  return dir;
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
  }
}

beforeAll(async () => {
  await initBackend('wasm');
});
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await redis.quit();
});

describe('ModelStore hot reload', () => {
  it('swaps in a newly activated version, and keeps serving the old one when the new one fails to load', async () => {
    const prefix = `test-store-${randomUUID().slice(0, 8)}`;
    const publisher = new ModelRegistry(redis, prefix, tempDir());
    const source = tempDir();
    for (const [version, broken] of [['v1', false], ['v2', false], ['v3', true]] as const) await publisher.publishFolder(versionFolder(source, version, broken));
    await publisher.activate('digitnet', 'v1');

    const lines: { msg: string; model?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const activated: string[] = [];
    // This worker's models folder starts empty: every version comes from the registry.
    const store = new ModelStore({
      modelsDir: tempDir(),
      defaultModel: 'digitnet',
      registry: new ModelRegistry(redis, prefix, tempDir()),
      log,
      pollMs: 50,
      engine: { kind: 'auto' },
      onActivated: (m) => activated.push(m.key),
    });
    try {
      expect((await store.start()).key).toBe('digitnet@v1');

      await publisher.activate('digitnet', 'v2');
      await until(() => activated.includes('digitnet@v2'));
      expect((await store.get(null)).key).toBe('digitnet@v2');
      // A job pinned to the old version still gets it.
      expect((await store.get('digitnet@v1')).version).toBe('v1');

      await publisher.activate('digitnet', 'v3');
      await until(() => lines.some((l) => l.msg.includes('failed to load') && l.model === 'digitnet@v3'));
      expect((await store.get(null)).key).toBe('digitnet@v2');
      expect(activated).not.toContain('digitnet@v3');
    } finally {
      await store.dispose();
    }
  });

  it('refuses a local folder whose files do not match their checksums, with a clear line, and keeps serving the old version', async () => {
    const modelsDir = tempDir();
    versionFolder(modelsDir, 'v1');
    const tampered = versionFolder(modelsDir, 'v2');
    // Changed after its metadata was written (a bad copy, a partial sync): the sums no longer match.
    writeFileSync(join(tampered, 'model.onnx'), Buffer.concat([readFileSync(join(tampered, 'model.onnx')), Buffer.from([0])]));
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');

    const lines: { msg: string; model?: string; err?: { message: string } }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = new ModelStore({ modelsDir, defaultModel: 'digitnet', registry: null, log, pollMs: 50, engine: { kind: 'auto' } });
    try {
      expect((await store.start()).key).toBe('digitnet@v1');
      writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v2\n');
      await until(() => lines.some((l) => l.msg.includes('failed to load') && l.model === 'digitnet@v2'));
      const refusal = lines.find((l) => l.model === 'digitnet@v2' && l.err);
      expect(refusal?.err?.message).toMatch(/model\.onnx: sha256 [0-9a-f]{64} does not match/);
      expect((await store.get(null)).key).toBe('digitnet@v1');
      await expect(store.get('digitnet@v2')).rejects.toThrow(/does not match/);
    } finally {
      await store.dispose();
    }
  });
});

describe('ModelStore variants', () => {
  const quiet = pino({ level: 'silent' });

  it('serves digitnet@v1:int8 and digitnet:int8 from the int8 file on ONNX Runtime, and the active variant to jobs that name none', async () => {
    const prefix = `test-store-${randomUUID().slice(0, 8)}`;
    const publisher = new ModelRegistry(redis, prefix, tempDir());
    const source = tempDir();
    for (const version of ['v1', 'v2']) await publisher.publishFolder(versionFolder(source, version));
    await publisher.activate('digitnet', 'v1');
    const activated: string[] = [];
    // An empty models folder: the version and its variant files come from the registry, checked against their sha256.
    const store = new ModelStore({
      modelsDir: tempDir(),
      defaultModel: 'digitnet',
      registry: new ModelRegistry(redis, prefix, tempDir()),
      log: quiet,
      pollMs: 50,
      engine: { kind: 'auto' },
      onActivated: (m) => activated.push(m.key),
    });
    try {
      expect((await store.start()).key).toBe('digitnet@v1');
      const int8 = await store.get('digitnet@v1:int8');
      expect(int8).toMatchObject({ key: 'digitnet@v1:int8', name: 'digitnet', version: 'v1', variant: 'int8' });
      expect(int8.engine.describe().engine).toBe('onnxruntime');
      expect(await store.resolveKey('digitnet:fp16')).toBe('digitnet@v1:fp16');
      expect(await store.resolveKey('digitnet@v2')).toBe('digitnet@v2');

      // Activating a variant: jobs naming nothing (or only the name) get it; pinned versions stay fp32.
      await publisher.activate('digitnet', 'v1', 'int8');
      await until(() => activated.includes('digitnet@v1:int8'));
      expect((await store.get(null)).key).toBe('digitnet@v1:int8');
      expect(await store.resolveKey('digitnet')).toBe('digitnet@v1:int8');
      expect(await store.resolveKey('digitnet@v1')).toBe('digitnet@v1');
      expect(store.servingKeys()).toEqual(['digitnet@v1:int8']);
      // Activating a version without a variant goes back to fp32.
      await publisher.activate('digitnet', 'v2');
      await until(() => activated.includes('digitnet@v2'));
      expect(await store.resolveKey(null)).toBe('digitnet@v2');
    } finally {
      await store.dispose();
    }
  });

  it('fails a variant on a tfjs-only worker with a clear ModelNotFoundError, and serves fp32 when that variant is the active one', async () => {
    const modelsDir = tempDir();
    versionFolder(modelsDir, 'v1');
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE_VARIANT'), 'int8\n');
    const lines: { msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const store = new ModelStore({ modelsDir, defaultModel: 'digitnet', registry: null, log, pollMs: 50, engine: { kind: 'tfjs' } });
    try {
      const served = await store.start();
      expect(served).toMatchObject({ key: 'digitnet@v1', variant: 'fp32' });
      expect(served.engine.describe().engine).toBe('tfjs');
      expect(lines.some((l) => /runs on ONNX Runtime only .* serving fp32/.test(l.msg))).toBe(true);
      const refused = store.get('digitnet@v1:int8');
      await expect(refused).rejects.toThrow(ModelNotFoundError);
      await expect(refused).rejects.toThrow('model digitnet@v1:int8 cannot be served by this worker: the int8 variant runs on ONNX Runtime only, and this worker serves with tfjs (INFERENCE_ENGINE=tfjs)');
    } finally {
      await store.dispose();
    }
  });

  it('names a version without the variant asked for', async () => {
    const modelsDir = tempDir();
    const dir = versionFolder(modelsDir, 'v1');
    const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
    delete metadata.files['model.int8.onnx'];
    writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata));
    const store = new ModelStore({ modelsDir, defaultModel: 'digitnet', registry: null, log: quiet, pollMs: 50, engine: { kind: 'auto' } });
    try {
      await expect(store.get('digitnet@v1:int8')).rejects.toThrow('model digitnet@v1 has no int8 variant (npm run model:quantize -- digitnet@v1 --variant int8)');
    } finally {
      await store.dispose();
    }
  });

  it('a job naming digitnet@v1:int8 is classified by the int8 file and its result says so (the inference consumer on a real queue)', async () => {
    const prefix = `test-variant-job-${randomUUID().slice(0, 8)}`;
    const modelsDir = tempDir();
    versionFolder(modelsDir, 'v1');
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
    const config = loadConfig({ ...process.env, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, MODELS_DIR: modelsDir, DEFAULT_MODEL: 'digitnet', INFERENCE_ENGINE: 'auto' });
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const consumer = await startInferenceConsumer({
      config,
      log: quiet,
      connection,
      health: new ConnectionHealth(quiet),
      registry: new ModelRegistry(connection, prefix, modelsDir),
      metrics: createWorkerMetrics({ device: 'cpu', backend: 'wasm' }),
      workerId: 'variant-test-worker',
      device: 'cpu',
      backendLabel: 'wasm',
      concurrency: 4,
    });
    const queue = createQueue(QUEUE_NAMES.inference, connection, prefix, { resultTtlS: 60, maxCount: 100 });
    const events = createQueueEvents(QUEUE_NAMES.inference, connection.duplicate(), prefix);
    const cancelRequests = new CancelRequests(connection, prefix, QUEUE_NAMES.inference, 60);
    const jobs = new InferenceJobs({ queue, redis: connection, prefix, cancelRequests, waiter: new JobWaiter(events), resultTtlS: 60, defaultModel: 'digitnet' });
    try {
      await consumer.ready();
      await events.waitUntilReady();
      const test = await loadMnist(config.DATA_DIR, 'test');
      const digits = [0, 1, 2].map((i) => test.images.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
      const submitted = await jobs.submit({ images: digits, model: 'digitnet@v1:int8', owner: 'tester', webhook: null });
      // Before it runs, the job view names the version asked for (not "v1:int8").
      expect(submitted.model).toMatchObject({ name: 'digitnet', version: 'v1' });
      const view = await jobs.waitForFinish(submitted.id, 'tester', 30_000);
      expect(view?.status).toBe('succeeded');
      expect(view!.model).toEqual({ name: 'digitnet', version: 'v1', variant: 'int8' });
      expect(view!.output!.predictions.map((p) => p.prediction)).toEqual([0, 1, 2].map((i) => test.labels[i]));
      // The same images on the version as trained: no variant in the result.
      const plain = await jobs.waitForFinish((await jobs.submit({ images: digits, model: 'digitnet@v1', owner: 'tester', webhook: null })).id, 'tester', 30_000);
      expect(plain!.model).toEqual({ name: 'digitnet', version: 'v1' });
    } finally {
      await consumer.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      await connection.quit();
    }
  });
});
