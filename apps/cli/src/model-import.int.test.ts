/**
 * The Keras CLIs as built for production (apps/cli/dist): digitnet@v1 goes
 * out with `model:export --format h5` and comes back with `model:import`,
 * registered in a real Redis when it is reachable (the registry numbers
 * the version), numbered from disk when it is not, and refused with exit
 * code 1 when it fails the input check. Needs the MNIST test split in
 * DATA_DIR.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { ModelRegistry, readActiveVersion, sha256 } from '@digitq/registry';
import { REPO_ROOT, deleteKeysWithPrefix, freePort, testRedisUrl } from '@digitq/test-utils';

const run = promisify(execFile);
const CLI_DIST = join(REPO_ROOT, 'apps', 'cli', 'dist');
const DATA_DIR = resolve(REPO_ROOT, loadConfig().DATA_DIR);
const prefix = `test-keras-${randomUUID().slice(0, 8)}`;
const redis = new Redis(testRedisUrl());
const work = mkdtempSync(join(tmpdir(), 'digitq-keras-cli-'));
const modelsDir = join(work, 'models');
const h5 = join(work, 'digitnet-v1.h5');

/** Runs a built CLI; resolves with its stdout's JSON line, rejects (with stderr) on a non-zero exit. */
async function cli(name: string, args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [join(CLI_DIST, `${name}.js`), ...args], {
    cwd: work,
    env: { ...process.env, DATA_DIR, LOG_LEVEL: 'warn', QUEUE_PREFIX: prefix, ...env },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

beforeAll(async () => {
  const exported = await cli('model-export', ['digitnet@v1', '--format', 'h5', '--out', h5], { MODELS_DIR: join(REPO_ROOT, 'models') });
  expect(exported).toMatchObject({ model: 'digitnet@v1', format: 'h5', keras_version: '2.15.0', file: h5, sha256: sha256(readFileSync(h5)) });
});

afterAll(async () => {
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  rmSync(work, { recursive: true, force: true });
});

describe('npm run model:import', () => {
  it('with Redis: registers the version the registry numbered, model.onnx included, and activates it', async () => {
    const out = await cli('model-import', [h5, '--name', 'digitnet', '--activate'], { MODELS_DIR: modelsDir, REDIS_URL: testRedisUrl() });
    expect(out).toMatchObject({ model: 'digitnet@v1', format: 'legacy-h5', keras_version: '2.15.0', registered: true, active: true, appended_softmax: false });
    expect((out.checked as { accuracy: number }).accuracy).toBeGreaterThan(0.99);
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    const registered = await registry.get('digitnet', 'v1');
    expect(registered).toMatchObject({ source: 'imported from digitnet-v1.h5 (Keras 2.15.0, legacy HDF5)', metrics: { test_count: 1000 } });
    expect(registered!.files['model.onnx']).toBe((out.onnx as { sha256: string }).sha256);
    expect(registered!.files['model.onnx']).toBe(sha256(readFileSync(join(modelsDir, 'digitnet', 'v1', 'model.onnx'))));
    expect(await registry.activeVersion('digitnet')).toBe('v1');
  });

  it('without Redis: numbers the version from disk and leaves registering to the workers', async () => {
    const closed = await freePort();
    const out = await cli('model-import', [h5, '--name', 'digitnet'], { MODELS_DIR: modelsDir, REDIS_URL: `redis://127.0.0.1:${closed}` });
    expect(out).toMatchObject({ model: 'digitnet@v2', registered: false, active: false });
    expect(existsSync(join(modelsDir, 'digitnet', 'v2', 'model.onnx'))).toBe(true);
    expect(await readActiveVersion(modelsDir, 'digitnet')).toBe('v1');
  });

  it('a model that fails the input check exits 1 saying why, and writes nothing', async () => {
    const fixture = join(REPO_ROOT, 'packages', 'model', 'src', 'keras', 'fixtures', 'tiny-cnn.keras');
    const attempt = cli('model-import', [fixture, '--name', 'refused'], { MODELS_DIR: modelsDir, REDIS_URL: testRedisUrl() });
    await expect(attempt).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('does not seem to take digitq') });
    expect(existsSync(join(modelsDir, 'refused'))).toBe(false);
  });
});
