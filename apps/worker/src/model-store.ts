/**
 * The models this worker process serves, loaded once and kept in memory.
 *
 * A job names `name@version`, `name`, or nothing (the default model). Names
 * resolve to the version the registry marks active; the worker watches that
 * pointer and, when it moves, loads the new version in the background and
 * swaps it in between batches: jobs already batched finish on the old one,
 * and a version that fails to load leaves the old one serving.
 */
import type { Logger } from 'pino';
import type { ModelMetadata } from '@digitq/contracts';
import { createEngine, readModelMetadata, resolveModelDir, type CreateEngineOptions, type EngineDescription, type InferenceEngine } from '@digitq/model';
import { readActiveVersion, verifyModelFolder, type ModelRegistry } from '@digitq/registry';

const RELOAD_RETRY_MS = 60_000;

export interface LoadedModel {
  key: string;
  name: string;
  version: string;
  /** What runs the model (ONNX Runtime or tfjs), loaded after its files passed their checksums. */
  engine: InferenceEngine;
  metadata: ModelMetadata;
}

export class ModelNotFoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelNotFoundError';
  }
}

export interface ModelStoreOptions {
  modelsDir: string;
  defaultModel: string;
  /** Without a registry (tests, single machine tools) the active version comes from models/<name>/ACTIVE. */
  registry: ModelRegistry | null;
  log: Logger;
  pollMs: number;
  /** Which engine serves each version (INFERENCE_ENGINE, INFERENCE_THREADS, the device). */
  engine: CreateEngineOptions;
  /** Called after a version is loaded, with what serves it (metrics). */
  onLoaded?: (key: string, engine: EngineDescription) => void;
  /** Called after a new active version starts serving. */
  onActivated?: (model: LoadedModel) => void;
}

export class ModelStore {
  private readonly loaded = new Map<string, Promise<LoadedModel>>();
  /** name@version -> its engine's description, once loaded (heartbeats read it synchronously). */
  private readonly described = new Map<string, EngineDescription>();
  /** name → the version this process serves for it now. */
  private readonly serving = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  /** Versions that failed to load, with when; retried after RELOAD_RETRY_MS. */
  private readonly failedVersions = new Map<string, number>();

  constructor(private readonly options: ModelStoreOptions) {}

  /** Loads the default model's active version; call before taking jobs. */
  async start(): Promise<LoadedModel> {
    await this.options.registry?.syncFromDisk();
    const model = await this.get(null);
    this.timer = setInterval(() => void this.checkActiveVersions(), this.options.pollMs);
    this.timer.unref();
    return model;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async activeVersionOf(name: string): Promise<string | null> {
    return (await this.options.registry?.activeVersion(name)) ?? (await readActiveVersion(this.options.modelsDir, name));
  }

  /** Resolves a job's model reference to `name@version`. */
  async resolveKey(ref: string | null): Promise<string> {
    const [name, version] = (ref ?? this.options.defaultModel).split('@') as [string, string | undefined];
    if (version) return `${name}@${version}`;
    let serving = this.serving.get(name);
    if (!serving) {
      const active = await this.activeVersionOf(name);
      if (!active) throw new ModelNotFoundError(`no active version of model ${name}`);
      serving = active;
      this.serving.set(name, serving);
    }
    return `${name}@${serving}`;
  }

  async get(ref: string | null): Promise<LoadedModel> {
    return this.load(await this.resolveKey(ref));
  }

  private load(key: string): Promise<LoadedModel> {
    let entry = this.loaded.get(key);
    if (!entry) {
      entry = this.loadFromDisk(key);
      this.loaded.set(key, entry);
      // A failed load is not cached: a later job or check tries again.
      entry.catch(() => this.loaded.delete(key));
    }
    return entry;
  }

  private async loadFromDisk(key: string): Promise<LoadedModel> {
    const [name, version] = key.split('@') as [string, string];
    let dir: string;
    try {
      dir = this.options.registry ? await this.options.registry.ensureLocal(name, version) : await resolveModelDir(this.options.modelsDir, key);
    } catch (cause) {
      throw new ModelNotFoundError(`model ${key} not found: ${(cause as Error).message}`, { cause });
    }
    const started = performance.now();
    // Served whole or not at all: every file metadata.json lists must match its sha256, from disk as from the registry.
    const metadata = await readModelMetadata(dir);
    await verifyModelFolder(dir, metadata.files);
    const engine = await createEngine(this.options.engine, dir);
    const ms = Math.round(performance.now() - started);
    this.described.set(key, engine.describe());
    this.options.onLoaded?.(key, engine.describe());
    this.options.log.info({ model: key, dir, ms, test_accuracy: metadata.metrics.test_accuracy, ...engine.describe() }, 'model loaded');
    return { key, name, version, engine, metadata };
  }

  /** Background loop: never throws; a bad version is logged and the old one keeps serving. */
  private async checkActiveVersions(): Promise<void> {
    for (const [name, current] of this.serving) {
      let active: string | null;
      try {
        active = await this.activeVersionOf(name);
      } catch (error) {
        this.options.log.warn({ err: error, model: name }, 'could not read the active model version; still serving the current one');
        continue;
      }
      const failedAt = this.failedVersions.get(`${name}@${active}`);
      if (!active || active === current || (failedAt && Date.now() - failedAt < RELOAD_RETRY_MS)) continue;
      const key = `${name}@${active}`;
      try {
        const loaded = await this.load(key);
        this.serving.set(name, active);
        this.options.log.info({ model: key, previous: `${name}@${current}` }, 'now serving the newly activated model version');
        this.options.onActivated?.(loaded);
      } catch (error) {
        this.failedVersions.set(key, Date.now());
        this.options.log.error({ err: error, model: key, serving: `${name}@${current}` }, 'the activated model version failed to load; still serving the previous one');
      }
    }
  }

  /** `name@version` of every model in memory, for heartbeats and metrics. */
  async loadedKeys(): Promise<string[]> {
    const settled = await Promise.allSettled([...this.loaded.values()]);
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.key] : []));
  }

  /** What serves the default model's current version, once loaded. */
  defaultEngine(): EngineDescription | null {
    const version = this.serving.get(this.options.defaultModel);
    return version ? (this.described.get(`${this.options.defaultModel}@${version}`) ?? null) : null;
  }

  /** The versions served by default for each model name. */
  servingKeys(): string[] {
    return [...this.serving].map(([name, version]) => `${name}@${version}`);
  }

  async dispose(): Promise<void> {
    this.stop();
    const settled = await Promise.allSettled([...this.loaded.values()]);
    for (const s of settled) if (s.status === 'fulfilled') await s.value.engine.dispose();
    this.loaded.clear();
  }
}
