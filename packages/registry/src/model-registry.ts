/**
 * The model registry: which versions of each model exist, their metrics, and
 * which one is active. Redis holds the truth so every worker on every
 * machine agrees: the active pointer, each version's metadata, and its
 * artifacts (a model is ~0.5 MB; Redis is the one store every worker already
 * reaches). Each machine keeps a cache in MODELS_DIR, written atomically and
 * checked against the sha256 sums in the metadata; models/<name>/ACTIVE on
 * disk lets a machine start cold without Redis knowing the model yet.
 *
 * No tfjs here: the API lists and activates models without loading them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { METADATA_JSON, listVersions, readActiveVersion, sha256, versionNumber, writeActiveVersion } from './model-folders.ts';
import type { Redis } from 'ioredis';
import { MODEL_NAME_PATTERN, modelMetadataSchema, type ModelMetadata, type ModelList } from '@digitq/contracts';

/** Files a version consists of; the served ones are covered by checksums in its metadata. */
const SERVED_FILES = ['model.json', 'weights.bin'] as const;
/** Served when the metadata lists it: model.onnx, the ONNX Runtime export (npm run model:export). */
const OPTIONAL_SERVED_FILES = ['model.onnx'] as const;
const EXTRA_FILES = ['history.json', 'training-curve.svg'] as const;

/** The files of a version that must be present and match the sha256 in its metadata. */
function checksummedFiles(metadata: ModelMetadata): string[] {
  return [...SERVED_FILES, ...OPTIONAL_SERVED_FILES.filter((file) => metadata.files[file])];
}

export class RegistryError extends Error {
  constructor(
    readonly code: 'MODEL_NOT_FOUND' | 'MODEL_CHECKSUM_MISMATCH' | 'MODEL_VERSION_CONFLICT',
    message: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export class ModelRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly modelsDir: string,
  ) {}

  private key(...parts: string[]): string {
    return [this.prefix, 'models', ...parts].join(':');
  }

  /** Registers a version folder from disk (metadata + artifacts). Re-registering identical files is a no-op. */
  async publishFolder(dir: string): Promise<ModelMetadata> {
    const metadata = modelMetadataSchema.parse(JSON.parse(await readFile(join(dir, METADATA_JSON), 'utf8')));
    const files: Record<string, Buffer> = {};
    for (const file of checksummedFiles(metadata)) {
      const bytes = await readFile(join(dir, file));
      if (sha256(bytes) !== metadata.files[file]) {
        throw new RegistryError('MODEL_CHECKSUM_MISMATCH', `${join(dir, file)} does not match the sha256 in its metadata`);
      }
      files[file] = bytes;
    }
    for (const file of EXTRA_FILES) if (existsSync(join(dir, file))) files[file] = await readFile(join(dir, file));
    const { name, version } = metadata;
    const existing = await this.get(name, version);
    if (existing) {
      if (existing.files['weights.bin'] !== metadata.files['weights.bin']) {
        throw new RegistryError('MODEL_VERSION_CONFLICT', `${name}@${version} is already registered with different weights`);
      }
      // The same version with a file exported since it was registered (model.onnx): add it.
      const added = checksummedFiles(metadata).filter((file) => !existing.files[file]);
      if (added.length === 0) return existing;
      const updated = { ...existing, files: { ...existing.files, ...Object.fromEntries(added.map((file) => [file, metadata.files[file]!])) } };
      await this.redis
        .multi()
        .hset(this.key(name, version, 'files'), Object.fromEntries(added.map((file) => [file, files[file]!])))
        .set(this.key(name, version, 'meta'), JSON.stringify(updated))
        .exec();
      return updated;
    }
    await this.redis
      .multi()
      .hset(this.key(name, version, 'files'), files)
      .set(this.key(name, version, 'meta'), JSON.stringify(metadata))
      .zadd(this.key(name, 'versions'), versionNumber(version), version)
      .sadd(this.key('names'), name)
      .exec();
    return metadata;
  }

  /**
   * A version number no machine has used for `name`: Redis counts, and the
   * counter is pushed past anything already registered or on this disk.
   */
  async allocateVersion(name: string): Promise<string> {
    const highestRegistered = (await this.redis.zrevrange(this.key(name, 'versions'), 0, 0, 'WITHSCORES'))[1];
    const local = await listVersions(this.modelsDir, name);
    const floor = Math.max(Number(highestRegistered ?? 0), ...local.map(versionNumber), 0);
    const counter = this.key(name, 'seq');
    // Raise the counter to the floor atomically, then take the next number.
    const next = (await this.redis.eval(
      "local c = tonumber(redis.call('GET', KEYS[1]) or '0'); if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end; return redis.call('INCR', KEYS[1])",
      1,
      counter,
      String(floor),
    )) as number;
    return `v${next}`;
  }

  async get(name: string, version: string): Promise<ModelMetadata | null> {
    const raw = await this.redis.get(this.key(name, version, 'meta'));
    return raw ? modelMetadataSchema.parse(JSON.parse(raw)) : null;
  }

  async activeVersion(name: string): Promise<string | null> {
    return this.redis.get(this.key(name, 'active'));
  }

  /** Makes `version` the one served for `name`, on every worker (they watch this key). */
  async activate(name: string, version: string): Promise<void> {
    if (!(await this.get(name, version))) throw new RegistryError('MODEL_NOT_FOUND', `model ${name}@${version} is not registered`);
    await this.redis.set(this.key(name, 'active'), version);
    await writeActiveVersion(this.modelsDir, name, version);
  }

  async list(): Promise<ModelList> {
    const names = (await this.redis.smembers(this.key('names'))).sort();
    const data = await Promise.all(
      names.map(async (name) => {
        const [versions, active] = await Promise.all([this.redis.zrange(this.key(name, 'versions'), 0, -1), this.activeVersion(name)]);
        const metas = await Promise.all(versions.map((v) => this.get(name, v)));
        return {
          name,
          active_version: active,
          versions: metas.flatMap((m) => (m ? [{ ...m, active: m.version === active }] : [])),
        };
      }),
    );
    return { data };
  }

  /**
   * Registers every model folder found on this machine's disk that Redis does
   * not know yet, and sets each model's active pointer from disk where Redis
   * has none (SET NX: whoever starts first decides; later machines follow).
   */
  async syncFromDisk(): Promise<void> {
    if (!existsSync(this.modelsDir)) return;
    for (const entry of await readdir(this.modelsDir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !MODEL_NAME_PATTERN.test(entry.name)) continue;
      const name = entry.name;
      for (const version of await listVersions(this.modelsDir, name)) await this.publishFolder(join(this.modelsDir, name, version));
      const diskActive = await readActiveVersion(this.modelsDir, name);
      if (diskActive && (await this.get(name, diskActive))) await this.redis.set(this.key(name, 'active'), diskActive, 'NX');
    }
  }

  /** The folder of `name@version` on this machine, fetched from Redis and verified when missing. */
  async ensureLocal(name: string, version: string): Promise<string> {
    const dir = join(this.modelsDir, name, version);
    const metadata = await this.get(name, version);
    if (existsSync(join(dir, METADATA_JSON))) return dir;
    if (!metadata) throw new RegistryError('MODEL_NOT_FOUND', `model ${name}@${version} is neither on disk nor registered`);
    const files = await this.redis.hgetallBuffer(this.key(name, version, 'files'));
    for (const file of checksummedFiles(metadata)) {
      const bytes = files[file];
      if (!bytes || sha256(bytes) !== metadata.files[file]) {
        throw new RegistryError('MODEL_CHECKSUM_MISMATCH', `${name}@${version}: ${file} from Redis does not match the sha256 in its metadata`);
      }
    }
    const tmp = join(this.modelsDir, name, `.${version}.fetch-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    try {
      for (const [file, bytes] of Object.entries(files)) await writeFile(join(tmp, file), bytes);
      await writeFile(join(tmp, METADATA_JSON), JSON.stringify(metadata, null, 2) + '\n');
      await rename(tmp, dir).catch(async (error: NodeJS.ErrnoException) => {
        // Another process on this machine fetched it first.
        if (!existsSync(join(dir, METADATA_JSON))) throw error;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return dir;
  }
}
