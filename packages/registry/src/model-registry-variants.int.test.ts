/**
 * Variant files (model.fp16.onnx, model.int8.onnx) travel with a version like
 * model.onnx, checked against their sha256; a machine that fetched the version
 * before a variant was made gets it on its next ensureLocal; the active
 * variant is a per-model setting beside the active version.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { testRedisUrl, useTempDirs, writeFakeModelVersion } from '@digitq/test-utils';
import type { ModelMetadata, ModelVariantInfo } from '@digitq/contracts';
import { ModelRegistry } from './model-registry.ts';
import { ACTIVE_VARIANT_FILE, readActiveVariant, variantFileName } from './model-folders.ts';

const redis = new Redis(testRedisUrl());
afterAll(async () => {
  await redis.quit();
});
const tempDir = useTempDirs('registry-variants');

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function info(file: string, body: string): ModelVariantInfo {
  return { file, bytes: body.length, size_ratio: 0.5, method: 'test', test_accuracy: 0.99, fp32_test_accuracy: 0.99, test_count: 10, created_at: '2026-01-01T00:00:00Z' };
}

/** A version folder with model.onnx and the given variant files, all listed in its metadata. */
function writeVersion(modelsDir: string, version: string, variants: Record<string, string> = {}): string {
  const files: Record<string, string> = { 'model.json': '{"name":"digitnet"}', 'weights.bin': `weights-${version}`, 'model.onnx': 'onnx' };
  for (const [variant, body] of Object.entries(variants)) files[`model.${variant}.onnx`] = body;
  const metadata =
    Object.keys(variants).length > 0 ? { variants: Object.fromEntries(Object.entries(variants).map(([variant, body]) => [variant, info(`model.${variant}.onnx`, body)])) } : {};
  return writeFakeModelVersion(modelsDir, { version, files, metadata });
}

let prefix: string;
beforeEach(() => {
  prefix = `test-registry-variants-${randomUUID().slice(0, 8)}`;
});

describe('ModelRegistry and variants', () => {
  it('names variant files model.<variant>.onnx (fp32 is model.onnx)', () => {
    expect(['fp32', 'fp16', 'int8'].map((v) => variantFileName(v as 'fp32'))).toEqual(['model.onnx', 'model.fp16.onnx', 'model.int8.onnx']);
  });

  it('publishes the variant files a version lists, with their figures, and another machine fetches them verified', async () => {
    const published = await new ModelRegistry(redis, prefix, tempDir()).publishFolder(writeVersion(tempDir(), 'v1', { int8: 'int8-bytes', fp16: 'fp16-bytes' }));
    expect(published.variants?.int8?.file).toBe('model.int8.onnx');
    const registry = new ModelRegistry(redis, prefix, tempDir());
    expect((await registry.get('digitnet', 'v1'))!.variants?.fp16).toEqual(info('model.fp16.onnx', 'fp16-bytes'));
    const dir = await registry.ensureLocal('digitnet', 'v1');
    expect(readFileSync(join(dir, 'model.int8.onnx'), 'utf8')).toBe('int8-bytes');
    expect(readFileSync(join(dir, 'model.fp16.onnx'), 'utf8')).toBe('fp16-bytes');
    expect(JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')).files['model.int8.onnx']).toBe(sha('int8-bytes'));
  });

  it('refuses a variant file that does not match its checksum, on disk or from Redis', async () => {
    const registry = new ModelRegistry(redis, prefix, tempDir());
    const tampered = writeVersion(tempDir(), 'v1', { int8: 'int8-bytes' });
    writeFileSync(join(tampered, 'model.int8.onnx'), 'tampered');
    await expect(registry.publishFolder(tampered)).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });

    await registry.publishFolder(writeVersion(tempDir(), 'v2', { int8: 'int8-bytes' }));
    await redis.hset(`${prefix}:models:digitnet:v2:files`, 'model.int8.onnx', 'corrupted in transit');
    await expect(new ModelRegistry(redis, prefix, tempDir()).ensureLocal('digitnet', 'v2')).rejects.toMatchObject({ code: 'MODEL_CHECKSUM_MISMATCH' });
  });

  it('a variant made after a machine fetched the version reaches that machine on its next ensureLocal', async () => {
    const trainer = new ModelRegistry(redis, prefix, tempDir());
    await trainer.publishFolder(writeVersion(tempDir(), 'v1'));
    const worker = new ModelRegistry(redis, prefix, tempDir());
    const dir = await worker.ensureLocal('digitnet', 'v1');
    expect(existsSync(join(dir, 'model.int8.onnx'))).toBe(false);

    await trainer.publishFolder(writeVersion(tempDir(), 'v1', { int8: 'quantized-later' }));
    expect(await worker.ensureLocal('digitnet', 'v1')).toBe(dir);
    expect(readFileSync(join(dir, 'model.int8.onnx'), 'utf8')).toBe('quantized-later');
    const local = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as ModelMetadata;
    expect(local.files['model.int8.onnx']).toBe(sha('quantized-later'));
    expect(local.variants?.int8?.file).toBe('model.int8.onnx');
  });

  it('keeps an active variant beside the active version; activating without one means fp32; a missing variant is MODEL_NOT_FOUND', async () => {
    const modelsDir = tempDir();
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.publishFolder(writeVersion(tempDir(), 'v1', { int8: 'int8-bytes' }));
    await registry.publishFolder(writeVersion(tempDir(), 'v2'));

    await registry.activate('digitnet', 'v1', 'int8');
    expect(await registry.active('digitnet')).toEqual({ version: 'v1', variant: 'int8' });
    expect(await registry.activeVariant('digitnet')).toBe('int8');
    expect(await readActiveVariant(modelsDir, 'digitnet')).toBe('int8');
    expect((await registry.list()).data[0]).toMatchObject({ active_version: 'v1', active_variant: 'int8' });

    await expect(registry.activate('digitnet', 'v2', 'int8')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringContaining('has no int8 variant') });
    expect(await registry.active('digitnet')).toEqual({ version: 'v1', variant: 'int8' });

    await registry.activate('digitnet', 'v2');
    expect(await registry.active('digitnet')).toEqual({ version: 'v2', variant: 'fp32' });
    expect(readFileSync(join(modelsDir, 'digitnet', ACTIVE_VARIANT_FILE), 'utf8').trim()).toBe('fp32');
    expect((await registry.list()).data[0]!.active_variant).toBeUndefined();
  });

  it('a cold start takes the active variant from disk along with the active version', async () => {
    const modelsDir = tempDir();
    writeVersion(modelsDir, 'v1', { fp16: 'fp16-bytes' });
    writeFileSync(join(modelsDir, 'digitnet', 'ACTIVE'), 'v1\n');
    writeFileSync(join(modelsDir, 'digitnet', ACTIVE_VARIANT_FILE), 'fp16\n');
    const registry = new ModelRegistry(redis, prefix, modelsDir);
    await registry.syncFromDisk();
    expect(await registry.active('digitnet')).toEqual({ version: 'v1', variant: 'fp16' });
  });
});
