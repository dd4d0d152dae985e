/**
 * Reads a Keras model file into its checked description and weights:
 *
 * - legacy HDF5 (`model.save("x.h5")` in tf.keras 2, also written by Keras 3):
 *   root attributes `keras_version`, `backend`, `model_config`; group
 *   `model_weights` whose attribute `layer_names` lists one group per layer,
 *   each with an attribute `weight_names` naming its datasets relative to it
 *   (`conv2d/kernel:0` in Keras 2, `sequential/conv2d/kernel` in Keras 3)
 *   (keras/src/legacy/saving/legacy_h5_format.py);
 * - Keras 3 `.keras`: a zip of `config.json`, `metadata.json` and
 *   `model.weights.h5`, where layer i's weights are datasets
 *   `layers/<name>/vars/0..n` in saving order and <name> is the layer's
 *   class in snake_case, `_1`, `_2`... for repeats (keras/src/saving/saving_lib.py).
 *
 * The format is told by the file's first bytes, not its extension.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { KerasFileError, getGroup, readFloatDataset, stringAttribute, stringListAttribute, withH5File, type Group, type StoredTensor } from './hdf5.ts';
import { UnsupportedKerasModelError, kerasWeightNames, parseKerasModelConfig, weightKey, type KerasLayerSpec, type KerasModelSpec, type KerasWeights } from './keras-layers.ts';

export type KerasFileFormat = 'legacy-h5' | 'keras-v3';

export interface KerasModelFile {
  format: KerasFileFormat;
  /** As the file records it (null when it does not). */
  kerasVersion: string | null;
  spec: KerasModelSpec;
  weights: KerasWeights;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const ZIP_SIGNATURE = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const KERAS_CONFIG = 'config.json';
const KERAS_METADATA = 'metadata.json';
const KERAS_WEIGHTS_H5 = 'model.weights.h5';
/** No member of a digit classifier's .keras comes near this; a larger one is refused before it is inflated (zip bombs). */
const MAX_KERAS_MEMBER_BYTES = 256 * 1024 * 1024;

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KerasFileError(`${what} is not valid JSON (${(error as Error).message})`);
  }
}

function readLegacyH5(path: string): Promise<KerasModelFile> {
  return withH5File(path, 'r', (file) => {
    const modelConfig = stringAttribute(file, 'model_config');
    if (modelConfig === null) {
      throw new KerasFileError(`${path} has no model_config: it holds weights only (model.save_weights); save the whole model with model.save("model.h5") or model.save("model.keras")`);
    }
    const kerasVersion = stringAttribute(file, 'keras_version');
    if (kerasVersion === null || kerasVersion.startsWith('1.')) {
      throw new UnsupportedKerasModelError(`${path} was written by Keras ${kerasVersion ?? '1 (no keras_version)'}; digitq reads files of Keras 2 and 3`);
    }
    const spec = parseKerasModelConfig(parseJson(modelConfig, `${path} model_config`));
    const modelWeights = getGroup(file, 'model_weights');
    if (!modelWeights) throw new KerasFileError(`${path} has no model_weights group`);
    const weights: KerasWeights = new Map();
    for (const layerName of stringListAttribute(modelWeights, 'layer_names')) {
      const group = getGroup(modelWeights, layerName);
      if (!group) throw new KerasFileError(`${path}: model_weights lists layer ${JSON.stringify(layerName)} but has no group for it`);
      const names = stringListAttribute(group, 'weight_names');
      if (names.length > 0) weights.set(layerName, new Map(names.map((name) => [weightKey(name), readFloatDataset(group, name)])));
    }
    return { format: 'legacy-h5', kerasVersion, spec, weights };
  });
}

/** keras.src.utils.naming.to_snake_case. */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Where saving_lib puts each layer's variables: layers/<snake_case class>, then _1, _2, ... for the same class again. */
export function kerasV3LayerPaths(layers: KerasLayerSpec[]): string[] {
  const used = new Map<string, number>();
  return layers.map((layer) => {
    const base = kerasSnakeCase(layer.kerasClass);
    const seen = used.get(base);
    used.set(base, seen === undefined ? 0 : seen + 1);
    return seen === undefined ? base : `${base}_${seen + 1}`;
  });
}

function readKerasV3Weights(file: Group, spec: KerasModelSpec): KerasWeights {
  // Files of Keras 2.13-2.15's early .keras support name the group differently.
  const root = getGroup(file, 'layers') ?? getGroup(file, '_layer_checkpoint_dependencies');
  const weights: KerasWeights = new Map();
  const paths = kerasV3LayerPaths(spec.layers);
  spec.layers.forEach((layer, i) => {
    const vars = root ? getGroup(root, `${paths[i]}/vars`) : null;
    const count = vars ? vars.keys().length : 0;
    const names = kerasWeightNames(layer);
    if (count !== names.length) {
      throw new KerasFileError(`${KERAS_WEIGHTS_H5}: layer ${JSON.stringify(layer.name)} (${layer.kerasClass}) has ${count} variables under layers/${paths[i]}/vars, expected ${names.length} (${names.join(', ') || 'none'})`);
    }
    if (vars && count > 0) weights.set(layer.name, new Map<string, StoredTensor>(names.map((name, index) => [name, readFloatDataset(vars, String(index))])));
  });
  return weights;
}

async function readKerasV3(path: string, bytes: Uint8Array): Promise<KerasModelFile> {
  const wanted = new Set([KERAS_CONFIG, KERAS_METADATA, KERAS_WEIGHTS_H5]);
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes, {
      filter: (member) => {
        if (!wanted.has(member.name)) return false;
        if (member.originalSize > MAX_KERAS_MEMBER_BYTES) throw new KerasFileError(`${path}: ${member.name} is ${member.originalSize} bytes uncompressed (at most ${MAX_KERAS_MEMBER_BYTES})`);
        return true;
      },
    });
  } catch (error) {
    if (error instanceof KerasFileError) throw error;
    throw new KerasFileError(`${path}: not a readable zip (${(error as Error).message})`);
  }
  const text = (name: string) => new TextDecoder().decode(members[name]);
  if (!members[KERAS_CONFIG]) throw new KerasFileError(`${path} has no ${KERAS_CONFIG}: not a Keras 3 .keras file`);
  if (!members[KERAS_WEIGHTS_H5]) throw new KerasFileError(`${path} has no ${KERAS_WEIGHTS_H5} (weights saved as .npz or sharded are not supported)`);
  const spec = parseKerasModelConfig(parseJson(text(KERAS_CONFIG), `${path} ${KERAS_CONFIG}`));
  const metadata = members[KERAS_METADATA] ? parseJson(text(KERAS_METADATA), `${path} ${KERAS_METADATA}`) : null;
  const kerasVersion = typeof (metadata as { keras_version?: unknown } | null)?.keras_version === 'string' ? (metadata as { keras_version: string }).keras_version : null;
  // h5wasm opens files by path: the weights go to a private temporary file for the read.
  const dir = await mkdtemp(join(tmpdir(), 'digitq-keras-'));
  try {
    const weightsPath = join(dir, KERAS_WEIGHTS_H5);
    await writeFile(weightsPath, members[KERAS_WEIGHTS_H5]);
    const weights = await withH5File(weightsPath, 'r', (file) => readKerasV3Weights(file, spec));
    return { format: 'keras-v3', kerasVersion, spec, weights };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads a Keras model file (legacy .h5 or Keras 3 .keras); throws KerasFileError or UnsupportedKerasModelError saying why not. */
export async function readKerasFile(path: string): Promise<KerasModelFile> {
  const bytes = await readFile(path);
  if (bytes.subarray(0, HDF5_SIGNATURE.length).equals(HDF5_SIGNATURE)) return readLegacyH5(path);
  if (bytes.subarray(0, ZIP_SIGNATURE.length).equals(ZIP_SIGNATURE)) return readKerasV3(path, bytes);
  throw new KerasFileError(`${path} is neither HDF5 (a Keras .h5 file) nor a zip (a Keras 3 .keras file)`);
}
