/**
 * The models this worker process serves, loaded once and kept in memory.
 * A job names `name`, `name@version`, or nothing (the default model's active
 * version); each is loaded on first use and checked against the checksums
 * in its metadata.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Logger } from 'pino';
import type { ModelMetadata } from '@digitq/contracts';
import { loadModelFolder, readActiveVersion, resolveModelDir } from '@digitq/model';

export interface LoadedModel {
  key: string;
  name: string;
  version: string;
  model: tf.LayersModel;
  metadata: ModelMetadata;
}

export class ModelNotFoundError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelNotFoundError';
  }
}

export class ModelStore {
  private readonly loaded = new Map<string, Promise<LoadedModel>>();

  constructor(
    private readonly modelsDir: string,
    private readonly defaultModel: string,
    private readonly log: Logger,
  ) {}

  /** Resolves a job's model reference to `name@version`. */
  async resolveKey(ref: string | null): Promise<string> {
    const [name, version] = (ref ?? this.defaultModel).split('@') as [string, string | undefined];
    if (version) return `${name}@${version}`;
    const active = await readActiveVersion(this.modelsDir, name);
    if (!active) throw new ModelNotFoundError(`no version of model ${name} in ${this.modelsDir}`);
    return `${name}@${active}`;
  }

  async get(ref: string | null): Promise<LoadedModel> {
    const key = await this.resolveKey(ref);
    let entry = this.loaded.get(key);
    if (!entry) {
      entry = this.load(key);
      this.loaded.set(key, entry);
      // A failed load is not cached: the next job tries again.
      entry.catch(() => this.loaded.delete(key));
    }
    return entry;
  }

  private async load(key: string): Promise<LoadedModel> {
    let dir: string;
    try {
      dir = await resolveModelDir(this.modelsDir, key);
    } catch (cause) {
      throw new ModelNotFoundError(`model ${key} not found in ${this.modelsDir}`, { cause });
    }
    const started = performance.now();
    const { model, metadata } = await loadModelFolder(dir);
    this.log.info({ model: key, dir, ms: Math.round(performance.now() - started), test_accuracy: metadata.metrics.test_accuracy }, 'model loaded');
    return { key, name: metadata.name, version: metadata.version, model, metadata };
  }

  /** Keys of the models in memory, for readiness reports and metrics. */
  async loadedKeys(): Promise<string[]> {
    const settled = await Promise.allSettled([...this.loaded.values()]);
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.key] : []));
  }

  async dispose(): Promise<void> {
    const settled = await Promise.allSettled([...this.loaded.values()]);
    for (const s of settled) if (s.status === 'fulfilled') s.value.model.dispose();
    this.loaded.clear();
  }
}
