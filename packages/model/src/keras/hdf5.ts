/**
 * HDF5 through h5wasm (the HDF5 C library compiled to wasm; its node build
 * opens host paths directly). Loaded on first use: the module instantiates a
 * 4 MB wasm at import, which nothing but a Keras import or export needs.
 *
 * h5wasm reports some failures only as HDF5-DIAG lines on stderr and carries
 * on, so writers here read back what they wrote (see export-keras.ts).
 */
import { resolve } from 'node:path';
import type { Attribute, Dataset, File as H5File, Group } from 'h5wasm';

type H5wasm = typeof import('h5wasm');
export type { H5File, Group, Dataset };

let loaded: Promise<H5wasm> | null = null;

async function h5wasm(): Promise<H5wasm> {
  loaded ??= import('h5wasm/node').then(async (module) => {
    await module.ready;
    return module as unknown as H5wasm;
  });
  return loaded;
}

/** A float tensor as stored in a file: row-major values and their shape. */
export interface StoredTensor {
  shape: number[];
  values: Float32Array;
}

export class KerasFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KerasFileError';
  }
}

/** Opens `path` (read-only unless `mode` says otherwise), runs `use`, and always closes the file. */
export async function withH5File<T>(path: string, mode: 'r' | 'w', use: (file: H5File) => T | Promise<T>): Promise<T> {
  const { File } = await h5wasm();
  let file: H5File;
  try {
    file = new File(resolve(path), mode);
  } catch (error) {
    throw new KerasFileError(`${path}: cannot open as HDF5 (${error instanceof Error ? error.message : String(error)})`);
  }
  try {
    return await use(file);
  } finally {
    file.close();
  }
}

function isGroup(entity: unknown): entity is Group {
  return typeof (entity as Group | null)?.keys === 'function' && typeof (entity as Group).create_group === 'function';
}

function isDataset(entity: unknown): entity is Dataset {
  return typeof (entity as Dataset | null)?.slice === 'function';
}

export function getGroup(parent: Group, path: string): Group | null {
  const entity = parent.get(path);
  return isGroup(entity) ? entity : null;
}

/** A string attribute (variable- or fixed-length, as h5py writes str and bytes), or null when absent. */
export function stringAttribute(node: Group, name: string): string | null {
  const attribute: Attribute | undefined = node.attrs[name];
  if (!attribute) return null;
  const value = attribute.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return new TextDecoder().decode(value);
  throw new KerasFileError(`${node.path} attribute ${name} is not a string`);
}

/**
 * A list-of-strings attribute as Keras writes them (layer_names,
 * weight_names): a string array, split into name0, name1, ... when it
 * would not fit in an HDF5 object header; an empty list where a layer has
 * no weights (h5py stores it as an empty float array) or the attribute is
 * absent.
 */
export function stringListAttribute(node: Group, name: string): string[] {
  const chunks = name in node.attrs ? [name] : [];
  if (chunks.length === 0) for (let i = 0; `${name}${i}` in node.attrs; i++) chunks.push(`${name}${i}`);
  return chunks.flatMap((chunk) => {
    const value = node.attrs[chunk]!.value;
    if (typeof value === 'string') return [value];
    if (Array.isArray(value)) return value.map((item) => String(item));
    if (ArrayBuffer.isView(value) && (value as Float64Array).length === 0) return [];
    throw new KerasFileError(`${node.path} attribute ${chunk} is not a list of strings`);
  });
}

/** A float32 or float64 dataset as float32 values (what tfjs computes in). */
export function readFloatDataset(parent: Group, path: string): StoredTensor {
  const entity = parent.get(path);
  if (!isDataset(entity)) throw new KerasFileError(`${parent.path}/${path}: no such dataset`);
  const value = entity.value;
  if (!(value instanceof Float32Array) && !(value instanceof Float64Array)) {
    throw new KerasFileError(`${entity.path}: weights of type ${JSON.stringify(entity.dtype)} are not supported (float32 or float64)`);
  }
  return { shape: entity.shape ?? [], values: value instanceof Float32Array ? value : Float32Array.from(value) };
}

/** Writes a float32 dataset, creating the groups its path names ("conv2d/kernel:0" under a layer's group). */
export function writeFloatDataset(parent: Group, path: string, tensor: StoredTensor): void {
  const parts = path.split('/');
  const name = parts.pop()!;
  let group = parent;
  for (const part of parts) group = getGroup(group, part) ?? group.create_group(part);
  group.create_dataset({ name, data: tensor.values, shape: tensor.shape, dtype: '<f' });
}

/** A list of strings as the fixed-length byte-string array numpy makes of Keras's `[name.encode("utf8"), ...]`. */
export function writeStringListAttribute(node: Group, name: string, values: string[]): void {
  if (values.length === 0) {
    // np.asarray([]) is an empty float64 array; Keras reads it back as no names.
    node.create_attribute(name, new Float64Array(0), [0], '<d');
    return;
  }
  const longest = Math.max(...values.map((v) => Buffer.byteLength(v)));
  node.create_attribute(name, values, [values.length], `S${longest}`);
}
