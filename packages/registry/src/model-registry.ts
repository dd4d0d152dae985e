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
import {
  METADATA_JSON,
  listVersions,
  readActiveVariant,
  readActiveVersion,
  sha256,
  variantFileName,
  versionNumber,
  writeActiveVariant,
  writeActiveVersion,
  writeAtomically,
} from './model-folders.ts';
import type { Redis } from 'ioredis';
import {
  DEFAULT_MODEL_VARIANT,
  MODEL_NAME_PATTERN,
  REPORT_JSON,
  evaluationReportSchema,
  modelMetadataSchema,
  modelVariantSchema,
  type EvaluationReport,
  type ModelMetadata,
  type ModelList,
  type ModelVariant,
} from '@digitq/contracts';

/** Files every version has; the checksums in its metadata cover them. */
const SERVED_FILES = ['model.json', 'weights.bin'] as const;
const EXTRA_FILES = ['history.json', 'training-curve.svg'] as const;
/** A file a version may list: a plain name inside its folder (it becomes a path on every machine that fetches it). */
const FILE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The files of a version that must be present and match the sha256 in its
 * metadata: model.json and weights.bin, and every other file it lists
 * (model.onnx from npm run model:export, model.<variant>.onnx from
 * npm run model:quantize), so a machine that fetches a version can verify it whole.
 */
function checksummedFiles(metadata: ModelMetadata): string[] {
  const listed = Object.keys(metadata.files);
  const unsafe = listed.find((file) => !FILE_NAME_PATTERN.test(file) || file === METADATA_JSON);
  if (unsafe) throw new RegistryError('MODEL_CHECKSUM_MISMATCH', `${metadata.name}@${metadata.version} lists ${JSON.stringify(unsafe)}, which is not a file name`);
  return [...new Set([...SERVED_FILES, ...listed])];
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

  /** Registers a version folder from disk (metadata + artifacts; its report.json too, see storeFolderReport). Re-registering identical files is a no-op. */
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
      await this.storeFolderReport(dir, metadata);
      // The same version with files exported since it was registered (model.onnx, variants): add them.
      const added = checksummedFiles(metadata).filter((file) => !existing.files[file]);
      if (added.length === 0) return existing;
      const updated: ModelMetadata = {
        ...existing,
        files: { ...existing.files, ...Object.fromEntries(added.map((file) => [file, metadata.files[file]!])) },
        ...(metadata.variants || existing.variants ? { variants: { ...existing.variants, ...metadata.variants } } : {}),
      };
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
    await this.storeFolderReport(dir, metadata);
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

  /**
   * Stores a registered version's evaluation report: in Redis beside its
   * metadata, and as report.json in this machine's folder of it when there is one.
   */
  async saveReport(report: EvaluationReport): Promise<void> {
    const parsed = evaluationReportSchema.parse(report);
    const { name, version } = parsed.model;
    if (!(await this.get(name, version))) throw new RegistryError('MODEL_NOT_FOUND', `model ${name}@${version} is not registered`);
    await this.redis.set(this.key(name, version, 'report'), JSON.stringify(parsed));
    const dir = join(this.modelsDir, name, version);
    if (existsSync(join(dir, METADATA_JSON))) await writeAtomically(join(dir, REPORT_JSON), JSON.stringify(parsed, null, 2) + '\n');
  }

  /** A version's evaluation report, or null when none was computed (or the version is unknown). */
  async getReport(name: string, version: string): Promise<EvaluationReport | null> {
    const raw = await this.redis.get(this.key(name, version, 'report'));
    return raw ? evaluationReportSchema.parse(JSON.parse(raw)) : null;
  }

  /**
   * A folder's report goes to Redis unless Redis holds a newer one: every
   * machine syncs its disk at start, and an old report.json on one machine
   * must not replace the one another machine computed since.
   */
  private async storeFolderReport(dir: string, metadata: ModelMetadata): Promise<void> {
    const report = await readFolderReport(dir, metadata);
    if (!report) return;
    const current = await this.getReport(report.model.name, report.model.version).catch(() => null);
    if (current && current.created_at >= report.created_at) return;
    await this.redis.set(this.key(report.model.name, report.model.version, 'report'), JSON.stringify(report));
  }

  async activeVersion(name: string): Promise<string | null> {
    return this.redis.get(this.key(name, 'active'));
  }

  /** The variant served to jobs that name neither a version nor a variant (fp32 unless one was activated). */
  async activeVariant(name: string): Promise<ModelVariant> {
    return (await this.active(name))?.variant ?? DEFAULT_MODEL_VARIANT;
  }

  /** The active version and variant, read together (one round trip, so never one activation's version with another's variant). */
  async active(name: string): Promise<{ version: string; variant: ModelVariant } | null> {
    const [version, variant] = await this.redis.mget(this.key(name, 'active'), this.key(name, 'active-variant'));
    if (!version) return null;
    const parsed = modelVariantSchema.safeParse(variant);
    return { version, variant: parsed.success ? parsed.data : DEFAULT_MODEL_VARIANT };
  }

  /**
   * Makes `version` (as `variant`, default fp32) the one served for `name`,
   * on every worker (they watch these keys). A variant the version has no
   * file for is MODEL_NOT_FOUND.
   */
  async activate(name: string, version: string, variant: ModelVariant = DEFAULT_MODEL_VARIANT): Promise<void> {
    const metadata = await this.get(name, version);
    if (!metadata) throw new RegistryError('MODEL_NOT_FOUND', `model ${name}@${version} is not registered`);
    if (variant !== DEFAULT_MODEL_VARIANT && !metadata.files[variantFileName(variant)]) {
      throw new RegistryError('MODEL_NOT_FOUND', `model ${name}@${version} has no ${variant} variant (npm run model:quantize -- ${name}@${version} --variant ${variant})`);
    }
    await this.redis.multi().set(this.key(name, 'active'), version).set(this.key(name, 'active-variant'), variant).exec();
    await writeActiveVersion(this.modelsDir, name, version);
    await writeActiveVariant(this.modelsDir, name, variant);
  }

  async list(): Promise<ModelList> {
    const names = (await this.redis.smembers(this.key('names'))).sort();
    const data = await Promise.all(
      names.map(async (name) => {
        const [versions, serving] = await Promise.all([this.redis.zrange(this.key(name, 'versions'), 0, -1), this.active(name)]);
        const active = serving?.version ?? null;
        const metas = await Promise.all(versions.map((v) => this.get(name, v)));
        return {
          name,
          active_version: active,
          ...(serving && serving.variant !== DEFAULT_MODEL_VARIANT ? { active_variant: serving.variant } : {}),
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
      const registered = diskActive ? await this.get(name, diskActive) : null;
      if (!diskActive || !registered) continue;
      // The variant goes with the version only when this machine's pointer is the one that won.
      const diskVariant = await readActiveVariant(this.modelsDir, name);
      const hasVariant = diskVariant === DEFAULT_MODEL_VARIANT || registered.files[variantFileName(diskVariant)];
      if ((await this.redis.set(this.key(name, 'active'), diskActive, 'NX')) === 'OK' && hasVariant) {
        await this.redis.set(this.key(name, 'active-variant'), diskVariant);
      }
    }
  }

  /**
   * The folder of `name@version` on this machine, fetched from Redis and
   * verified when missing. A folder already here gets the files registered
   * since it was fetched (a variant quantized on another machine).
   */
  async ensureLocal(name: string, version: string): Promise<string> {
    const dir = join(this.modelsDir, name, version);
    const metadata = await this.get(name, version);
    if (existsSync(join(dir, METADATA_JSON))) {
      if (metadata) await this.addRegisteredFiles(dir, metadata);
      return dir;
    }
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
      const report = await this.redis.get(this.key(name, version, 'report'));
      if (report) await writeFile(join(tmp, REPORT_JSON), JSON.stringify(JSON.parse(report), null, 2) + '\n');
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

  /** Adds to a local folder of the same version (same weights) the registered files it lacks, verified, and lists them in its metadata. */
  private async addRegisteredFiles(dir: string, registered: ModelMetadata): Promise<void> {
    const local = modelMetadataSchema.parse(JSON.parse(await readFile(join(dir, METADATA_JSON), 'utf8')));
    if (local.files['weights.bin'] !== registered.files['weights.bin']) return;
    const missing = checksummedFiles(registered).filter((file) => !local.files[file] || !existsSync(join(dir, file)));
    if (missing.length === 0) return;
    const { name, version } = registered;
    const bytes = await this.redis.hmgetBuffer(this.key(name, version, 'files'), ...missing);
    for (const [i, file] of missing.entries()) {
      const content = bytes[i];
      if (!content || sha256(content) !== registered.files[file]) {
        throw new RegistryError('MODEL_CHECKSUM_MISMATCH', `${name}@${version}: ${file} from Redis does not match the sha256 in its metadata`);
      }
      await writeAtomically(join(dir, file), content);
    }
    const updated: ModelMetadata = {
      ...local,
      files: { ...local.files, ...Object.fromEntries(missing.map((file) => [file, registered.files[file]!])) },
      ...(registered.variants || local.variants ? { variants: { ...local.variants, ...registered.variants } } : {}),
    };
    await writeAtomically(join(dir, METADATA_JSON), JSON.stringify(updated, null, 2) + '\n');
  }
}

/**
 * The folder's report.json when it is a valid report of this version. A
 * report is derived data (npm run model:report makes it again), so one that
 * does not parse or names another version is left out rather than failing
 * the registration of the model itself.
 */
async function readFolderReport(dir: string, metadata: ModelMetadata): Promise<EvaluationReport | null> {
  if (!existsSync(join(dir, REPORT_JSON))) return null;
  try {
    const report = evaluationReportSchema.parse(JSON.parse(await readFile(join(dir, REPORT_JSON), 'utf8')));
    return report.model.name === metadata.name && report.model.version === metadata.version ? report : null;
  } catch {
    return null;
  }
}

