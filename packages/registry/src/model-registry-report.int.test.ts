/**
 * Evaluation reports live with their version: in Redis beside its metadata
 * and as report.json in the version folder. A folder's report.json is
 * registered with the folder (the newest report wins), and a machine that
 * fetches a version gets its report too.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl, useTempDirs, writeFakeModelVersion } from '@digitq/test-utils';
import { REPORT_JSON, type ClassificationMetrics, type EvaluationReport } from '@digitq/contracts';
import { ModelRegistry } from './model-registry.ts';

const redis = new Redis(testRedisUrl());
afterAll(async () => {
  await redis.quit();
});
const tempDir = useTempDirs('registry-report');

/** Metrics of `count` images all right (enough for the schema; the registry stores reports, it does not read them). */
function allRight(count: number): ClassificationMetrics {
  const confusion = Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => (t === p && t === 0 ? count : 0)));
  return {
    count,
    accuracy: 1,
    error_rate: 0,
    nll: 0.01,
    ece: 0.01,
    confusion,
    per_class: Array.from({ length: 10 }, (_, digit) => ({ digit, precision: digit === 0 ? 1 : null, recall: digit === 0 ? 1 : null, support: digit === 0 ? count : 0 })),
    reliability: [{ lower: 14 / 15, upper: 1, count, confidence: 0.99, accuracy: 1 }],
  };
}

function report(version: string, createdAt: string, temperature = 1.2): EvaluationReport {
  return {
    model: { name: 'digitnet', version },
    created_at: createdAt,
    datasets: { 'mnist-test': allRight(10) },
    calibration: { temperature, fitted_on: 'mnist-train last 3,000', count: 3000, ece_before: 0.02, ece_after: 0.01 },
  };
}

let prefix: string;
beforeEach(() => {
  prefix = `test-registry-report-${randomUUID().slice(0, 8)}`;
});

describe('ModelRegistry reports', () => {
  it('saves a report in Redis and in the version folder, and gives it back', async () => {
    const modelsDir = tempDir();
    const dir = writeFakeModelVersion(modelsDir, { version: 'v1' });
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.syncFromDisk();
    expect(await registry.getReport('digitnet', 'v1')).toBeNull();

    const saved = report('v1', '2026-11-30T01:00:00.000Z');
    await registry.saveReport(saved);
    expect(await registry.getReport('digitnet', 'v1')).toEqual(saved);
    expect(JSON.parse(readFileSync(join(dir, REPORT_JSON), 'utf8'))).toEqual(saved);
    expect(JSON.parse((await redis.get(`${prefix}:models:digitnet:v1:report`))!)).toEqual(saved);
  });

  it('refuses a report of a version it does not know, or one that is not a report', async () => {
    const registry = new ModelRegistry(redis, prefix, tempDir());
    await expect(registry.saveReport(report('v9', '2026-11-30T01:00:00.000Z'))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    writeFakeModelVersion(tempDir(), { version: 'v1' });
    await expect(registry.saveReport({ ...report('v1', 'x'), datasets: { 'mnist-test': { count: 1 } } } as unknown as EvaluationReport)).rejects.toThrow();
  });

  it('registers a folder\'s report.json with the folder, unless Redis holds a newer report', async () => {
    const modelsDir = tempDir();
    const dir = writeFakeModelVersion(modelsDir, { version: 'v2' });
    const onDisk = report('v2', '2026-11-30T01:00:00.000Z', 1.5);
    writeFileSync(join(dir, REPORT_JSON), JSON.stringify(onDisk));
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.syncFromDisk();
    expect(await registry.getReport('digitnet', 'v2')).toEqual(onDisk);

    // Another machine computed a newer report; this machine's older file must not replace it at its next start.
    const newer = report('v2', '2026-11-30T02:00:00.000Z', 1.7);
    await new ModelRegistry(redis, prefix, tempDir()).saveReport(newer);
    await registry.syncFromDisk();
    expect((await registry.getReport('digitnet', 'v2'))?.calibration.temperature).toBe(1.7);

    // A report regenerated on disk later than Redis's replaces it.
    const regenerated = report('v2', '2026-11-30T03:00:00.000Z', 1.9);
    writeFileSync(join(dir, REPORT_JSON), JSON.stringify(regenerated));
    await registry.publishFolder(dir);
    expect(await registry.getReport('digitnet', 'v2')).toEqual(regenerated);
  });

  it('registers the model but not a report.json that is invalid or names another version', async () => {
    const modelsDir = tempDir();
    const broken = writeFakeModelVersion(modelsDir, { version: 'v3' });
    writeFileSync(join(broken, REPORT_JSON), '{"model":');
    const other = writeFakeModelVersion(modelsDir, { version: 'v4' });
    writeFileSync(join(other, REPORT_JSON), JSON.stringify(report('v3', '2026-11-30T01:00:00.000Z')));
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.syncFromDisk();
    expect((await registry.get('digitnet', 'v3'))?.version).toBe('v3');
    expect(await registry.getReport('digitnet', 'v3')).toBeNull();
    expect(await registry.getReport('digitnet', 'v4')).toBeNull();
  });

  it('gives a machine that fetches a version its report.json', async () => {
    const trainer = new ModelRegistry(redis, prefix, tempDir());
    await trainer.publishFolder(writeFakeModelVersion(tempDir(), { version: 'v5' }));
    const saved = report('v5', '2026-11-30T01:00:00.000Z');
    await trainer.saveReport(saved);
    const dir = await new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v5');
    expect(existsSync(join(dir, REPORT_JSON))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, REPORT_JSON), 'utf8'))).toEqual(saved);
  });
});
