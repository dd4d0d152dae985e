/**
 * Calibrated serving with the committed model: a version whose evaluation
 * report carries a temperature is served with softmax(log(p) / T), a folder
 * without one exactly as the model gives it, and a hot reload serves the new
 * version with its own temperature.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { REPORT_JSON, packModelBatch } from '@digitq/contracts';
import { MNIST_PIXELS, loadMnist } from '@digitq/datasets';
import { applyTemperature } from '@digitq/evaluation';
import { createEngine, initBackend } from '@digitq/model';
import { ModelRegistry } from '@digitq/registry';
import { testRedisUrl } from '@digitq/test-utils';
import { ModelStore } from './model-store.ts';

const COMMITTED = resolve(import.meta.dirname, '../../../models/digitnet/v1');
const IMAGES = 32;
const quiet = pino({ level: 'silent' });
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-calibrated-'));
  dirs.push(dir);
  return dir;
};
const redis = new Redis(testRedisUrl());

/** The committed model copied as `version`, with a report whose calibration temperature is `temperature` (none: no report). */
function report(version: string, temperature: number) {
  return {
    model: { name: 'digitnet', version },
    created_at: new Date().toISOString(),
    datasets: {},
    calibration: { temperature, fitted_on: 'test', count: 1, ece_before: 0.02, ece_after: 0.01 },
  };
}

function versionFolder(modelsDir: string, version: string, temperature?: number): string {
  const dir = join(modelsDir, 'digitnet', version);
  mkdirSync(join(modelsDir, 'digitnet'), { recursive: true });
  cpSync(COMMITTED, dir, { recursive: true });
  const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8'));
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ ...metadata, version }));
  // The committed version's own report (if any) is replaced by this test's, or removed.
  rmSync(join(dir, REPORT_JSON), { force: true });
  if (temperature !== undefined) writeFileSync(join(dir, REPORT_JSON), JSON.stringify(report(version, temperature)));
  return dir;
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
  }
}

let batch: Float32Array;
beforeAll(async () => {
  await initBackend('wasm');
  const test = await loadMnist(loadConfig().DATA_DIR, 'test');
  batch = packModelBatch(Array.from({ length: IMAGES }, (_, i) => test.images.slice(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)));
});
afterAll(async () => {
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  await redis.quit();
});

describe('calibrated serving', () => {
  it("serves a version's probabilities with its report's temperature, an uncalibrated folder unchanged, and a hot reload with the new version's", async () => {
    const modelsDir = tempDir();
    const v1 = versionFolder(modelsDir, 'v1');
    versionFolder(modelsDir, 'v2', 2.5);
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
    const engineOptions = { kind: 'auto' } as const;
    const raw = await createEngine(engineOptions, v1);
    const store = new ModelStore({ modelsDir, defaultModel: 'digitnet', registry: null, log: quiet, pollMs: 50, engine: engineOptions });
    try {
      const rawProbabilities = await raw.predict(batch);
      const active = await store.start();
      expect(active).toMatchObject({ key: 'digitnet@v1', temperature: 1 });
      expect(await active.engine.predict(batch)).toEqual(rawProbabilities);

      const pinned = await store.get('digitnet@v2');
      expect(pinned.temperature).toBe(2.5);
      const calibrated = await pinned.engine.predict(batch);
      const expected = applyTemperature(rawProbabilities, 2.5);
      calibrated.forEach((p, i) => expect(p).toBeCloseTo(expected[i]!, 6));
      // Softer, never a different digit.
      for (let i = 0; i < IMAGES; i++) {
        const row = (values: Float32Array) => Array.from(values.subarray(i * 10, i * 10 + 10));
        expect(row(calibrated).indexOf(Math.max(...row(calibrated)))).toBe(row(rawProbabilities).indexOf(Math.max(...row(rawProbabilities))));
        expect(Math.max(...row(calibrated))).toBeLessThanOrEqual(Math.max(...row(rawProbabilities)));
      }

      writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v2\n');
      await until(async () => (await store.get(null)).key === 'digitnet@v2');
      const reloaded = await store.get(null);
      expect(reloaded.temperature).toBe(2.5);
      expect(await reloaded.engine.predict(batch)).toEqual(calibrated);
    } finally {
      await store.dispose();
      await raw.dispose();
    }
  });

  it("takes the temperature from the registry's report on a worker whose folder came from the registry", async () => {
    const prefix = `test-calibrated-${randomUUID().slice(0, 8)}`;
    // This worker's folder of v1 has no report.json: the report is computed after registration, on another machine.
    const workerModels = tempDir();
    const folder = versionFolder(workerModels, 'v1');
    const publisher = new ModelRegistry(redis, prefix, tempDir());
    await publisher.publishFolder(folder);
    await publisher.activate('digitnet', 'v1');
    await publisher.saveReport(report('v1', 1.8) as Parameters<ModelRegistry['saveReport']>[0]);
    const store = new ModelStore({ modelsDir: workerModels, defaultModel: 'digitnet', registry: new ModelRegistry(redis, prefix, workerModels), log: quiet, pollMs: 60_000, engine: { kind: 'auto' } });
    try {
      expect((await store.start()).temperature).toBe(1.8);
    } finally {
      await store.dispose();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });
});
