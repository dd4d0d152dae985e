/**
 * Hot reload as one worker sees it: the registry's active pointer moves, the
 * store loads the new version in the background and swaps it in; a version
 * that cannot load leaves the old one serving.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@digitq/model';
import { ModelRegistry } from '@digitq/registry';
import { testRedisUrl } from '@digitq/test-utils';
import { ModelStore } from './model-store.ts';

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
