/**
 * Versioned model folders: models/<name>/<version>/ holding model.json,
 * weights.bin, metadata.json, history.json and training-curve.svg. A folder
 * is written under a temporary name and renamed into place, so readers never
 * see half a model. Listing versions and the ACTIVE pointer live in
 * @digitq/registry's model-folders (no tfjs there).
 */
import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_JSON, WEIGHTS_BIN, loadLayersModel, saveLayersModel } from './file-io.ts';
import { renderTrainingCurveSvg } from './training-curve-svg.ts';
import type { EpochRecord } from '../train.ts';
import { MNIST_INPUT_CONVENTION, MODEL_NAME_PATTERN, type ModelMetadata } from '@digitq/contracts';
import { METADATA_JSON, listVersions, readActiveVersion, sha256 } from '@digitq/registry';

export const HISTORY_JSON = 'history.json';
export const TRAINING_CURVE_SVG = 'training-curve.svg';


export function assertModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) throw new RangeError(`model name ${JSON.stringify(name)} must match ${MODEL_NAME_PATTERN}`);
}

export async function nextVersion(modelsDir: string, name: string): Promise<string> {
  const versions = await listVersions(modelsDir, name);
  const last = versions.at(-1);
  return `v${last ? Number(last.slice(1)) + 1 : 1}`;
}

export interface WriteModelFolderInput {
  modelsDir: string;
  name: string;
  version?: string;
  model: tf.LayersModel;
  metadata: Omit<ModelMetadata, 'name' | 'version' | 'files' | 'input' | 'parameters'>;
  history: EpochRecord[];
}

/** Writes a complete model folder atomically and returns its metadata. */
export async function writeModelFolder(input: WriteModelFolderInput): Promise<ModelMetadata & { dir: string }> {
  assertModelName(input.name);
  const version = input.version ?? (await nextVersion(input.modelsDir, input.name));
  const parent = join(input.modelsDir, input.name);
  const dir = join(parent, version);
  if (existsSync(dir)) throw new Error(`model folder ${dir} already exists`);
  const tmp = join(parent, `.${version}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    await saveLayersModel(input.model, tmp);
    const files: Record<string, string> = {};
    for (const file of [MODEL_JSON, WEIGHTS_BIN]) files[file] = sha256(await readFile(join(tmp, file)));
    const metadata: ModelMetadata = {
      name: input.name,
      version,
      parameters: input.model.countParams(),
      ...input.metadata,
      input: MNIST_INPUT_CONVENTION,
      files,
    };
    await writeFile(join(tmp, METADATA_JSON), JSON.stringify(metadata, null, 2) + '\n');
    await writeFile(join(tmp, HISTORY_JSON), JSON.stringify(input.history, null, 2) + '\n');
    await writeFile(join(tmp, TRAINING_CURVE_SVG), renderTrainingCurveSvg(input.history, `${input.name} ${version}`));
    await rename(tmp, dir);
    return { ...metadata, dir };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

export async function readModelMetadata(dir: string): Promise<ModelMetadata> {
  return JSON.parse(await readFile(join(dir, METADATA_JSON), 'utf8')) as ModelMetadata;
}

export class ModelChecksumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelChecksumError';
  }
}

/** Loads a model folder after checking its files against the checksums in its metadata. */
export async function loadModelFolder(dir: string): Promise<{ model: tf.LayersModel; metadata: ModelMetadata }> {
  const metadata = await readModelMetadata(dir);
  for (const [file, expected] of Object.entries(metadata.files)) {
    const actual = sha256(await readFile(join(dir, file)));
    if (actual !== expected) throw new ModelChecksumError(`${join(dir, file)}: sha256 ${actual} does not match metadata ${expected}`);
  }
  return { model: await loadLayersModel(dir), metadata };
}

/** Resolves `name` or `name@version` (default: the active version) to a model folder path. */
export async function resolveModelDir(modelsDir: string, ref: string): Promise<string> {
  const [name, pinned] = ref.split('@') as [string, string | undefined];
  assertModelName(name);
  const version = pinned ?? (await readActiveVersion(modelsDir, name));
  if (!version) throw new Error(`no version of model ${name} in ${modelsDir}`);
  const dir = join(modelsDir, name, version);
  if (!existsSync(join(dir, METADATA_JSON))) throw new Error(`model ${name}@${version} not found in ${modelsDir}`);
  return dir;
}
