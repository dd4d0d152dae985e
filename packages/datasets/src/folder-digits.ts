/**
 * A user's own digits as image files, one folder per label:
 *
 *   <dir>/0/a.png  <dir>/0/b.jpg  ...  <dir>/9/z.webp
 *
 * Decoding is injected (the imaging package wires in sharp) so this package
 * stays free of native dependencies and its tests need no real images.
 *
 * Entries that are not `<digit>/<image>` (a `README.md`, a `rejected/` folder,
 * a `10/` folder, a `.txt` inside `3/`) are ignored and listed in `ignored`
 * rather than failing the load: such folders are often kept beside the data on
 * purpose. Hidden entries (`.DS_Store`) are skipped without being listed.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { DatasetError, DatasetNotFoundError, ImageDecodeError } from './errors.ts';
import { MNIST_PIXELS, MNIST_SIDE, type DigitDataset } from './digit-dataset.ts';

/** Returns one 28x28 digit (MNIST convention: ink bright on black), as floats in [0, 1] or bytes 0-255. */
export type DecodeDigit = (bytes: Uint8Array, path: string) => Promise<Float32Array | Uint8Array>;

export const FOLDER_IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.webp'];

const LABEL_FOLDER = /^[0-9]$/;
const BYTE_MAX = 255;

export interface FolderDigitsOptions {
  decode: DecodeDigit;
  /** Skip files that fail to read or decode (listed in `skipped`) instead of failing the load. Default false. */
  skipBadFiles?: boolean;
  /** Decodes in flight at once. Default 4. */
  concurrency?: number;
  /** Dataset name. Default: the folder's own name. */
  name?: string;
}

export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

export interface FolderDigits {
  readonly dataset: DigitDataset;
  /** Source file of each image: paths[i] is image i. */
  readonly paths: readonly string[];
  /** Entries that are not `<digit>/<image>`, relative to the folder. */
  readonly ignored: readonly string[];
  /** Files that failed to decode (only when skipBadFiles). */
  readonly skipped: readonly SkippedFile[];
}

const DEFAULT_CONCURRENCY = 4;

interface Entry {
  readonly path: string;
  readonly label: number;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

async function listEntries(dir: string): Promise<{ entries: Entry[]; ignored: string[] }> {
  if (!(await isDirectory(dir))) {
    throw new DatasetNotFoundError(`digit folder ${dir} does not exist or is not a directory`, [dir]);
  }
  const ignored: string[] = [];
  const byLabel: string[][] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const labelDir = join(dir, name);
    if (!LABEL_FOLDER.test(name) || !(await isDirectory(labelDir))) {
      ignored.push(name);
      continue;
    }
    const files: string[] = [];
    for (const file of (await readdir(labelDir)).sort()) {
      if (file.startsWith('.')) continue;
      const path = join(labelDir, file);
      const isImage = FOLDER_IMAGE_EXTENSIONS.includes(extname(file).toLowerCase());
      if (isImage && (await stat(path).then((s) => s.isFile(), () => false))) files.push(path);
      else ignored.push(join(name, file));
    }
    byLabel[Number(name)] = files;
  }
  return { entries: interleave(byLabel), ignored };
}

/**
 * Sorted order, with the labels spread evenly through the set instead of in
 * blocks: training takes its validation split from the tail and `--limit` from
 * the head, and a block order would make either one a single digit.
 */
function interleave(byLabel: readonly (readonly string[] | undefined)[]): Entry[] {
  const keyed: { entry: Entry; key: number }[] = [];
  byLabel.forEach((files, label) => {
    files?.forEach((path, rank) => keyed.push({ entry: { path, label }, key: (rank + 0.5) / files.length }));
  });
  keyed.sort((a, b) => a.key - b.key || a.entry.label - b.entry.label);
  return keyed.map((k) => k.entry);
}

function toBytes(pixels: Float32Array | Uint8Array, path: string): Uint8Array {
  if (pixels.length !== MNIST_PIXELS) {
    throw new ImageDecodeError(path, `${path}: decoder returned ${pixels.length} values, expected ${MNIST_PIXELS} (${MNIST_SIDE}x${MNIST_SIDE})`);
  }
  if (pixels instanceof Uint8Array) return pixels;
  const out = new Uint8Array(MNIST_PIXELS);
  for (let i = 0; i < MNIST_PIXELS; i++) {
    const v = pixels[i]!;
    if (!Number.isFinite(v)) throw new ImageDecodeError(path, `${path}: decoder returned ${v} at pixel ${i}`);
    out[i] = Math.round(Math.min(1, Math.max(0, v)) * BYTE_MAX);
  }
  return out;
}

async function decodeFile(path: string, decode: DecodeDigit): Promise<Uint8Array> {
  let pixels: Float32Array | Uint8Array;
  try {
    pixels = await decode(await readFile(path), path);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new ImageDecodeError(path, `${path}: could not read or decode the image: ${detail}`, { cause });
  }
  return toBytes(pixels, path);
}

/** Loads `<dir>/<0-9>/*.{png,jpg,jpeg,webp}` into one dataset (see the module comment for what is ignored). */
export async function loadDigitFolder(dir: string, options: FolderDigitsOptions): Promise<FolderDigits> {
  const { entries, ignored } = await listEntries(dir);
  if (entries.length === 0) {
    throw new DatasetError(
      'DATASET_EMPTY',
      `${dir}: no images found; expected ${join(dir, '<0-9>', `*{${FOLDER_IMAGE_EXTENSIONS.join(',')}}`)}` +
        (ignored.length > 0 ? ` (ignored: ${ignored.slice(0, 10).join(', ')}${ignored.length > 10 ? ', ...' : ''})` : ''),
    );
  }

  const decoded: (Uint8Array | null)[] = new Array<Uint8Array | null>(entries.length).fill(null);
  const skipped: SkippedFile[] = [];
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < entries.length) {
      const index = next++;
      const { path } = entries[index]!;
      try {
        decoded[index] = await decodeFile(path, options.decode);
      } catch (error) {
        if (!options.skipBadFiles || !(error instanceof ImageDecodeError)) {
          failed = true;
          throw error;
        }
        skipped.push({ path, reason: error.message });
      }
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? DEFAULT_CONCURRENCY, entries.length));
  await Promise.all(Array.from({ length: concurrency }, worker));

  const kept = entries.flatMap((entry, i) => (decoded[i] ? [{ ...entry, pixels: decoded[i] }] : []));
  if (kept.length === 0) {
    throw new DatasetError('DATASET_EMPTY', `${dir}: all ${entries.length} images failed to decode; first: ${skipped[0]?.reason ?? 'unknown'}`);
  }
  const images = new Uint8Array(kept.length * MNIST_PIXELS);
  const labels = new Uint8Array(kept.length);
  kept.forEach((k, i) => {
    images.set(k.pixels, i * MNIST_PIXELS);
    labels[i] = k.label;
  });
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    dataset: { name: options.name ?? basename(resolve(dir)), count: kept.length, rows: MNIST_SIDE, cols: MNIST_SIDE, images, labels },
    paths: kept.map((k) => k.path),
    ignored,
    skipped,
  };
}
