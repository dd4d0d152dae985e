import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl, useTempDirs, writeFakeModelVersion } from '@digitq/test-utils';
import { ModelRegistry, RegistryError } from './model-registry.ts';

const redis = new Redis(testRedisUrl());
afterAll(async () => {
  await redis.quit();
});
const tempDir = useTempDirs('registry');

/** A model folder as training writes it; the artifacts are opaque bytes to the registry. */
function writeVersion(modelsDir: string, name: string, version: string, weights: string, testAccuracy = 0.99): string {
  return writeFakeModelVersion(modelsDir, { name, version, files: { 'model.json': `{"name":"${name}"}`, 'weights.bin': weights }, testAccuracy });
}

let prefix: string;
beforeEach(() => {
  prefix = `test-registry-${randomUUID().slice(0, 8)}`;
});

describe('ModelRegistry', () => {
  it('registers the models on disk and takes the active pointer from disk', async () => {
    const modelsDir = tempDir();
    writeVersion(modelsDir, 'digitnet', 'v1', 'one');
    writeVersion(modelsDir, 'digitnet', 'v2', 'two');
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.syncFromDisk();
    const { data } = await registry.list();
    expect(data).toHaveLength(1);
    expect(data[0]!.active_version).toBe('v1');
    expect(data[0]!.versions.map((v) => [v.version, v.active])).toEqual([['v1', true], ['v2', false]]);
  });

  it('lets a machine with an empty models folder fetch and verify a version', async () => {
    const trainer = new ModelRegistry(redis, prefix, tempDir());
    const source = writeVersion(tempDir(), 'digitnet', 'v3', 'weights-three');
    await trainer.publishFolder(source);
    const otherMachine = new ModelRegistry(redis, prefix, tempDir());
    const dir = await otherMachine.ensureLocal('digitnet', 'v3');
    expect(readFileSync(join(dir, 'weights.bin'), 'utf8')).toBe('weights-three');
    expect(existsSync(join(dir, 'metadata.json'))).toBe(true);
  });

  it('refuses artifacts whose bytes do not match their checksums', async () => {
    const dir = writeVersion(tempDir(), 'digitnet', 'v1', 'good');
    writeFileSync(join(dir, 'weights.bin'), 'tampered');
    const registry = new ModelRegistry(redis, prefix, tempDir());
    await expect(registry.publishFolder(dir)).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });

    const clean = writeVersion(tempDir(), 'digitnet', 'v2', 'good');
    await registry.publishFolder(clean);
    await redis.hset(`${prefix}:models:digitnet:v2:files`, 'weights.bin', 'corrupted in transit');
    await expect(new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v2')).rejects.toBeInstanceOf(RegistryError);
  });

  it('allocates versions past everything registered or on disk, never twice', async () => {
    const modelsDir = tempDir();
    writeVersion(modelsDir, 'digitnet', 'v4', 'four');
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    const versions = await Promise.all(Array.from({ length: 5 }, () => registry.allocateVersion('digitnet')));
    expect(new Set(versions).size).toBe(5);
    expect(versions.map((v) => Number(v.slice(1))).sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9]);
  });

  it('activates only registered versions and records the pointer on disk too', async () => {
    const modelsDir = tempDir();
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.publishFolder(writeVersion(modelsDir, 'digitnet', 'v1', 'one'));
    await expect(registry.activate('digitnet', 'v9')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await registry.activate('digitnet', 'v1');
    expect(await registry.activeVersion('digitnet')).toBe('v1');
    expect(readFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'utf8').trim()).toBe('v1');
  });

  it('treats re-registering identical files as a no-op and different weights as a conflict', async () => {
    const registry = new ModelRegistry(redis, prefix, tempDir());
    const dir = writeVersion(tempDir(), 'digitnet', 'v1', 'same');
    await registry.publishFolder(dir);
    await expect(registry.publishFolder(dir)).resolves.toMatchObject({ version: 'v1' });
    await expect(registry.publishFolder(writeVersion(tempDir(), 'digitnet', 'v1', 'different'))).rejects.toMatchObject({ code: 'MODEL_VERSION_CONFLICT' });
  });
});
