/**
 * The on-disk side of model versions, without tfjs: models/<name>/<version>/
 * folders (a version exists once its metadata.json does) and the
 * models/<name>/ACTIVE pointer used on a cold start. The model package
 * writes and loads folders; the registry, launcher and worker only read these.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_MODEL_VARIANT, MODEL_VERSION_PATTERN, modelVariantSchema, type ModelVariant } from '@digitq/contracts';

export const METADATA_JSON = 'metadata.json';
export const ACTIVE_FILE = 'ACTIVE';
/** models/<name>/ACTIVE_VARIANT: the variant served by default beside ACTIVE (absent: fp32). */
export const ACTIVE_VARIANT_FILE = 'ACTIVE_VARIANT';

/** The ONNX file a variant is served from: model.onnx for fp32, model.<variant>.onnx for the others. */
export function variantFileName(variant: ModelVariant): string {
  return variant === DEFAULT_MODEL_VARIANT ? 'model.onnx' : `model.${variant}.onnx`;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function versionNumber(version: string): number {
  return Number(version.slice(1));
}

/** The complete versions of `name` in `modelsDir`, oldest first. */
export async function listVersions(modelsDir: string, name: string): Promise<string[]> {
  const dir = join(modelsDir, name);
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && MODEL_VERSION_PATTERN.test(e.name) && existsSync(join(dir, e.name, METADATA_JSON)))
    .map((e) => e.name)
    .sort((a, b) => versionNumber(a) - versionNumber(b));
}

/** The version ACTIVE names, else the newest on disk, else null. */
export async function readActiveVersion(modelsDir: string, name: string): Promise<string | null> {
  const path = join(modelsDir, name, ACTIVE_FILE);
  if (existsSync(path)) return (await readFile(path, 'utf8')).trim() || null;
  return (await listVersions(modelsDir, name)).at(-1) ?? null;
}

/** Points ACTIVE at `version`, atomically (temporary file renamed over it). */
export async function writeActiveVersion(modelsDir: string, name: string, version: string): Promise<void> {
  await writePointer(modelsDir, name, ACTIVE_FILE, version);
}

async function writePointer(modelsDir: string, name: string, file: string, value: string): Promise<void> {
  const dir = join(modelsDir, name);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${file}.tmp-${process.pid}`);
  await writeFile(tmp, value + '\n');
  await rename(tmp, join(dir, file));
}

/** The variant ACTIVE_VARIANT names, else fp32; throws when it names something else. */
export async function readActiveVariant(modelsDir: string, name: string): Promise<ModelVariant> {
  const path = join(modelsDir, name, ACTIVE_VARIANT_FILE);
  if (!existsSync(path)) return DEFAULT_MODEL_VARIANT;
  const content = (await readFile(path, 'utf8')).trim();
  const parsed = modelVariantSchema.safeParse(content);
  if (!parsed.success) throw new RangeError(`${path} names ${JSON.stringify(content)}, not one of ${modelVariantSchema.options.join(', ')}`);
  return parsed.data;
}

/** Points ACTIVE_VARIANT at `variant`, atomically. */
export async function writeActiveVariant(modelsDir: string, name: string, variant: ModelVariant): Promise<void> {
  await writePointer(modelsDir, name, ACTIVE_VARIANT_FILE, variant);
}

/** A model folder whose files do not match the sha256 sums its metadata lists. */
export class ModelFolderChecksumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderChecksumError';
  }
}

/**
 * Checks every file a version's metadata lists (`files`: name -> sha256)
 * against the folder, whichever engine will read which of them: a folder is
 * served whole or not at all. Throws ModelFolderChecksumError naming the
 * first file that is missing or differs.
 */
export async function verifyModelFolder(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [file, expected] of Object.entries(files)) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new ModelFolderChecksumError(`${path} is missing (metadata lists it with sha256 ${expected})`);
    const actual = sha256(await readFile(path));
    if (actual !== expected) throw new ModelFolderChecksumError(`${path}: sha256 ${actual} does not match ${expected} in its metadata`);
  }
}

/** Writes `bytes` to `path` through a temporary file renamed over it, so readers never see half a file. */
export async function writeAtomically(path: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}
