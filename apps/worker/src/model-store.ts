/**
 * The models this worker process serves, loaded once and kept in memory.
 *
 * A job names `name@version`, `name`, `name:variant`, `name@version:variant`
 * or nothing (the default model). Names resolve to the version the registry
 * marks active, served as the variant it marks active when the job names
 * none (a job naming a version without a variant gets that version as
 * trained, fp32). The worker watches those pointers and, when they move,
 * loads the new version or variant in the background and swaps it in between
 * batches: jobs already batched finish on the old one, and one that fails to
 * load leaves the old one serving.
 *
 * Keys are `name@version` (fp32) or `name@version:variant`. Variants (fp16,
 * int8) run on ONNX Runtime only: asked of a worker that serves with tfjs,
 * the job fails with ModelNotFoundError; as the active variant, such a worker
 * serves the active version as fp32 instead.
 */
import type { Logger } from 'pino';
import { DEFAULT_MODEL_VARIANT, parseModelRef, type ModelMetadata, type ModelVariant } from '@digitq/contracts';
import {
  EngineUnavailableError,
  createVariantEngine,
  readModelMetadata,
  resolveModelDir,
  type CreateEngineOptions,
  type EngineDescription,
  type InferenceEngine,
} from '@digitq/model';
import { readActiveVariant, readActiveVersion, variantFileName, verifyModelFolder, type ModelRegistry } from '@digitq/registry';
import { calibrated, readTemperature } from './calibration.ts';

const RELOAD_RETRY_MS = 60_000;

export interface LoadedModel {
  key: string;
  name: string;
  version: string;
  variant: ModelVariant;
  /** What runs the model (ONNX Runtime or tfjs), loaded after its files passed their checksums; its probabilities calibrated by `temperature`. */
  engine: InferenceEngine;
  metadata: ModelMetadata;
  /** The calibration temperature from the version's evaluation report (1: none). */
  temperature: number;
}

/** What a model name serves by default. */
interface Serving {
  version: string;
  variant: ModelVariant;
}

/** `name@version` for fp32, `name@version:variant` otherwise. */
export function modelKey(name: string, version: string, variant: ModelVariant): string {
  return variant === DEFAULT_MODEL_VARIANT ? `${name}@${version}` : `${name}@${version}:${variant}`;
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
  /** name → the version and variant this process serves for it now. */
  private readonly serving = new Map<string, Serving>();
  /** Model names whose active variant this worker cannot serve (tfjs only), already logged. */
  private readonly variantIgnoredLogged = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** Versions that failed to load, with when; retried after RELOAD_RETRY_MS. */
  private readonly failedVersions = new Map<string, number>();

  constructor(private readonly options: ModelStoreOptions) {}

  /**
   * Loads the default model's active version (as its active variant; as fp32
   * when that variant fails to load, retried later by the watch); call before
   * taking jobs.
   */
  async start(): Promise<LoadedModel> {
    await this.options.registry?.syncFromDisk();
    let model: LoadedModel;
    try {
      model = await this.get(null);
    } catch (error) {
      const name = this.options.defaultModel;
      const serving = this.serving.get(name);
      if (!serving || serving.variant === DEFAULT_MODEL_VARIANT) throw error;
      const key = modelKey(name, serving.version, serving.variant);
      this.failedVersions.set(key, Date.now());
      this.options.log.error({ err: error, model: key }, 'the active variant failed to load; serving the active version as fp32 until it does');
      this.serving.set(name, { version: serving.version, variant: DEFAULT_MODEL_VARIANT });
      model = await this.get(null);
    }
    this.timer = setInterval(() => void this.checkActiveVersions(), this.options.pollMs);
    this.timer.unref();
    return model;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The active version and variant: the registry's, else models/<name>/ACTIVE and ACTIVE_VARIANT on disk. */
  private async activeOf(name: string): Promise<Serving | null> {
    const registered = await this.options.registry?.active(name);
    if (registered) return registered;
    const version = await readActiveVersion(this.options.modelsDir, name);
    return version ? { version, variant: await readActiveVariant(this.options.modelsDir, name) } : null;
  }

  /** The active variant if this worker can serve it: a tfjs-only worker serves fp32 (and says so once). */
  private servable(name: string, active: Serving): Serving {
    if (active.variant === DEFAULT_MODEL_VARIANT || this.options.engine.kind !== 'tfjs') return active;
    if (!this.variantIgnoredLogged.has(name)) {
      this.variantIgnoredLogged.add(name);
      this.options.log.warn({ model: name, variant: active.variant }, 'the active variant runs on ONNX Runtime only and this worker serves with tfjs (INFERENCE_ENGINE=tfjs): serving fp32');
    }
    return { version: active.version, variant: DEFAULT_MODEL_VARIANT };
  }

  /** Resolves a job's model reference to `name@version` or `name@version:variant`. */
  async resolveKey(ref: string | null): Promise<string> {
    let parsed;
    try {
      parsed = parseModelRef(ref ?? this.options.defaultModel);
    } catch (cause) {
      throw new ModelNotFoundError((cause as Error).message, { cause });
    }
    const { name, version, variant } = parsed;
    if (version) return modelKey(name, version, variant ?? DEFAULT_MODEL_VARIANT);
    let serving = this.serving.get(name);
    if (!serving) {
      const active = await this.activeOf(name);
      if (!active) throw new ModelNotFoundError(`no active version of model ${name}`);
      serving = this.servable(name, active);
      this.serving.set(name, serving);
    }
    return modelKey(name, serving.version, variant ?? serving.variant);
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
    const ref = parseModelRef(key);
    const { name } = ref;
    const version = ref.version!;
    const variant = ref.variant ?? DEFAULT_MODEL_VARIANT;
    let dir: string;
    try {
      dir = this.options.registry ? await this.options.registry.ensureLocal(name, version) : await resolveModelDir(this.options.modelsDir, `${name}@${version}`);
    } catch (cause) {
      throw new ModelNotFoundError(`model ${key} not found: ${(cause as Error).message}`, { cause });
    }
    const started = performance.now();
    // Served whole or not at all: every file metadata.json lists must match its sha256, from disk as from the registry.
    const metadata = await readModelMetadata(dir);
    await verifyModelFolder(dir, metadata.files);
    if (variant !== DEFAULT_MODEL_VARIANT && !metadata.files[variantFileName(variant)]) {
      throw new ModelNotFoundError(`model ${name}@${version} has no ${variant} variant (npm run model:quantize -- ${name}@${version} --variant ${variant})`);
    }
    let engine: InferenceEngine;
    try {
      engine = await createVariantEngine(this.options.engine, dir, variant);
    } catch (error) {
      // fp32 always has an engine here (tfjs at worst); a variant has none where ONNX Runtime cannot run it.
      if (variant !== DEFAULT_MODEL_VARIANT && error instanceof EngineUnavailableError) {
        throw new ModelNotFoundError(`model ${key} cannot be served by this worker: ${error.message}`, { cause: error });
      }
      throw error;
    }
    // Read with the version, so a hot reload serves the new version with its own temperature.
    const { registry } = this.options;
    const temperature = await readTemperature({ dir, registryReport: registry ? () => registry.getReport(name, version) : null }, this.options.log, key);
    engine = calibrated(engine, temperature);
    const ms = Math.round(performance.now() - started);
    const test_accuracy = variant === DEFAULT_MODEL_VARIANT ? metadata.metrics.test_accuracy : (metadata.variants?.[variant]?.test_accuracy ?? null);
    this.described.set(key, engine.describe());
    this.options.onLoaded?.(key, engine.describe());
    this.options.log.info({ model: key, dir, ms, test_accuracy, temperature, ...engine.describe() }, 'model loaded');
    return { key, name, version, variant, engine, metadata, temperature };
  }

  /** Background loop: never throws; a bad version or variant is logged and the old one keeps serving. */
  private async checkActiveVersions(): Promise<void> {
    for (const [name, current] of this.serving) {
      let active: Serving | null;
      try {
        active = await this.activeOf(name);
      } catch (error) {
        this.options.log.warn({ err: error, model: name }, 'could not read the active model version; still serving the current one');
        continue;
      }
      if (!active) continue;
      const target = this.servable(name, active);
      const key = modelKey(name, target.version, target.variant);
      const previous = modelKey(name, current.version, current.variant);
      const failedAt = this.failedVersions.get(key);
      if (key === previous || (failedAt && Date.now() - failedAt < RELOAD_RETRY_MS)) continue;
      try {
        const loaded = await this.load(key);
        this.serving.set(name, target);
        this.options.log.info({ model: key, previous }, 'now serving the newly activated model version');
        this.options.onActivated?.(loaded);
      } catch (error) {
        this.failedVersions.set(key, Date.now());
        this.options.log.error({ err: error, model: key, serving: previous }, 'the activated model version failed to load; still serving the previous one');
      }
    }
  }

  /** The key of every model in memory, for heartbeats and metrics. */
  async loadedKeys(): Promise<string[]> {
    const settled = await Promise.allSettled([...this.loaded.values()]);
    return settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.key] : []));
  }

  /** What serves the default model's current version, once loaded. */
  defaultEngine(): EngineDescription | null {
    const serving = this.serving.get(this.options.defaultModel);
    return serving ? (this.described.get(modelKey(this.options.defaultModel, serving.version, serving.variant)) ?? null) : null;
  }

  /** The keys served by default for each model name. */
  servingKeys(): string[] {
    return [...this.serving].map(([name, serving]) => modelKey(name, serving.version, serving.variant));
  }

  async dispose(): Promise<void> {
    this.stop();
    const settled = await Promise.allSettled([...this.loaded.values()]);
    for (const s of settled) if (s.status === 'fulfilled') await s.value.engine.dispose();
    this.loaded.clear();
  }
}
