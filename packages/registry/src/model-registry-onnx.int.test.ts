/**
 * model.onnx (the ONNX Runtime export) travels with a version when its
 * metadata lists it, checked against its sha256 like model.json and weights.bin.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl, useTempDirs, writeFakeModelVersion } from '@digitq/test-utils';
import { ModelRegistry } from './model-registry.ts';

const redis = new Redis(testRedisUrl());
afterAll(async () => {
  await redis.quit();
});
const tempDir = useTempDirs('registry-onnx');

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A version folder; `onnx` adds a model.onnx listed in the metadata. */
function writeVersion(modelsDir: string, version: string, onnx?: string): string {
  const files: Record<string, string> = { 'model.json': '{"name":"digitnet"}', 'weights.bin': `weights-${version}` };
  if (onnx !== undefined) files['model.onnx'] = onnx;
  return writeFakeModelVersion(modelsDir, { version, files });
}

let prefix: string;
beforeEach(() => {
  prefix = `test-registry-onnx-${randomUUID().slice(0, 8)}`;
});

describe('ModelRegistry and model.onnx', () => {
  it('publishes a listed model.onnx and another machine fetches it verified', async () => {
    await new ModelRegistry(redis, prefix, tempDir()).publishFolder(writeVersion(tempDir(), 'v1', 'onnx-bytes'));
    const dir = await new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v1');
    expect(readFileSync(join(dir, 'model.onnx'), 'utf8')).toBe('onnx-bytes');
  });

  it('refuses a model.onnx that does not match its checksum, on disk or from Redis', async () => {
    const registry = new ModelRegistry(redis, prefix, tempDir());
    const tampered = writeVersion(tempDir(), 'v1', 'onnx-bytes');
    writeFileSync(join(tampered, 'model.onnx'), 'tampered');
    await expect(registry.publishFolder(tampered)).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });

    await registry.publishFolder(writeVersion(tempDir(), 'v2', 'onnx-bytes'));
    await redis.hset(`${prefix}:models:digitnet:v2:files`, 'model.onnx', 'corrupted in transit');
    await expect(new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v2')).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });
  });

  it('leaves out a model.onnx its metadata does not list', async () => {
    const dir = writeVersion(tempDir(), 'v1');
    writeFileSync(join(dir, 'model.onnx'), 'unlisted');
    await new ModelRegistry(redis, prefix, tempDir()).publishFolder(dir);
    const fetched = await new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v1');
    expect(existsSync(join(fetched, 'model.onnx'))).toBe(false);
  });

  it('adds a model.onnx exported after the version was registered', async () => {
    const registry = new ModelRegistry(redis, prefix, tempDir());
    const first = await registry.publishFolder(writeVersion(tempDir(), 'v1'));
    expect(first.files['model.onnx']).toBeUndefined();
    const republished = await registry.publishFolder(writeVersion(tempDir(), 'v1', 'exported-later'));
    expect(republished.files['model.onnx']).toBe(sha('exported-later'));
    expect((await registry.get('digitnet', 'v1'))!.files['model.onnx']).toBe(sha('exported-later'));
    const fetched = await new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v1');
    expect(readFileSync(join(fetched, 'model.onnx'), 'utf8')).toBe('exported-later');
  });
});
