/**
 * Loads labelled digit sets stored as IDX pairs: MNIST itself, and any set in
 * the same layout (EMNIST digits, Fashion-MNIST, a user's export).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseIdx, IdxFormatError } from './idx.ts';
import { DatasetError, DatasetNotFoundError } from './errors.ts';
import { DIGIT_CLASSES, type DigitDataset } from './digit-dataset.ts';

export type Split = 'train' | 'test';

/** File names of the original MNIST distribution; EMNIST uses `emnist-digits-<split>-...`. */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export const EMNIST_DIGITS_FILES = {
  train: { images: 'emnist-digits-train-images-idx3-ubyte.gz', labels: 'emnist-digits-train-labels-idx1-ubyte.gz' },
  test: { images: 'emnist-digits-test-images-idx3-ubyte.gz', labels: 'emnist-digits-test-labels-idx1-ubyte.gz' },
} as const;

/** MNIST calls its test split t10k; most other sets say test. */
const SPLIT_TOKENS: Record<Split, readonly string[]> = { train: ['train'], test: ['test', 't10k'] };

export interface IdxPairOptions {
  /**
   * Read each image column-major. EMNIST stores its images transposed relative
   * to MNIST, so without this its digits come out mirrored along the diagonal.
   */
  transpose?: boolean;
}

export interface IdxDigitsOptions {
  /** Default: true when the images file is named `emnist-*`, false otherwise. */
  transpose?: boolean;
}

export interface IdxPairFiles {
  readonly images: string;
  readonly labels: string;
}

/** Names a mirror may use for one file: as published (.gz), unpacked, or with `.idx` instead of `-idx`. */
function nameVariants(gzName: string): string[] {
  const raw = gzName.replace(/\.gz$/, '');
  const dotted = raw.replace('-idx', '.idx');
  return [gzName, raw, dotted, `${dotted}.gz`];
}

function firstPresent(dir: string, names: readonly string[]): string | null {
  for (const name of names) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return null;
}

/** Finds `<stem>` in `dir` as written (.gz) or unpacked (without .gz, or with '.' before idx as some mirrors name it). */
function resolveIdxFile(dir: string, gzName: string): string {
  const path = firstPresent(dir, nameVariants(gzName));
  if (path) return path;
  throw new DatasetNotFoundError(
    `${gzName} not found in ${dir} (set DATA_DIR, or fetch it with \`npm run data:download -- mnist\`)`,
    nameVariants(gzName).map((name) => join(dir, name)),
  );
}

export async function loadIdxPair(
  imagesPath: string,
  labelsPath: string,
  name: string,
  options: IdxPairOptions = {},
): Promise<DigitDataset> {
  const [imageBytes, labelBytes] = await Promise.all([readFile(imagesPath), readFile(labelsPath)]);
  const images = parseIdx(imageBytes, imagesPath);
  const labels = parseIdx(labelBytes, labelsPath);
  if (images.shape.length !== 3) {
    throw new IdxFormatError('IDX_BAD_SHAPE', `${imagesPath}: expected rank-3 images, got shape [${images.shape.join(', ')}]`);
  }
  if (labels.shape.length !== 1) {
    throw new IdxFormatError('IDX_BAD_SHAPE', `${labelsPath}: expected rank-1 labels, got shape [${labels.shape.join(', ')}]`);
  }
  const [count, rows, cols] = images.shape as [number, number, number];
  if (labels.shape[0] !== count) {
    throw new IdxFormatError('IDX_LENGTH_MISMATCH', `${name}: ${count} images in ${imagesPath} but ${labels.shape[0]} labels in ${labelsPath}`);
  }
  const bad = labels.data.findIndex((l) => l >= DIGIT_CLASSES);
  if (bad >= 0) {
    throw new IdxFormatError('IDX_BAD_LABEL', `${labelsPath}: label ${labels.data[bad]} at index ${bad} is not a digit 0-9`);
  }
  const pixels = options.transpose ? transposeImages(images.data, count, rows, cols) : images.data;
  return { name, count, rows, cols, images: pixels, labels: labels.data };
}

/** Stored image i holds pixel (r, c) at c * rows + r; returns them row-major. */
export function transposeImages(data: Uint8Array, count: number, rows: number, cols: number): Uint8Array {
  const pixels = rows * cols;
  const out = new Uint8Array(count * pixels);
  for (let i = 0; i < count; i++) {
    const base = i * pixels;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[base + r * cols + c] = data[base + c * rows + r]!;
    }
  }
  return out;
}

/** MNIST's train (60,000) or test (10,000) split from a directory holding the four original files. */
export async function loadMnist(dataDir: string, split: Split): Promise<DigitDataset> {
  const files = MNIST_FILES[split];
  return loadIdxPair(resolveIdxFile(dataDir, files.images), resolveIdxFile(dataDir, files.labels), `mnist-${split}`);
}

/** Whether `dataDir` holds all four MNIST files (as published or unpacked). */
export function hasMnist(dataDir: string): boolean {
  return (['train', 'test'] as const).every((split) => Object.values(MNIST_FILES[split]).every((name) => firstPresent(dataDir, nameVariants(name)) !== null));
}

async function listFiles(dir: string): Promise<string[]> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new DatasetNotFoundError(`dataset directory ${dir} does not exist`, [dir]);
  }
  if (!info.isDirectory()) throw new DatasetNotFoundError(`${dir} is not a directory`, [dir]);
  const names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  // stat, not the dirent type, so symlinked files count; a dangling link is simply not a file.
  const isFile = await Promise.all(names.map((name) => stat(join(dir, name)).then((s) => s.isFile(), () => false)));
  return names.filter((_, i) => isFile[i]);
}

function canonicalName(name: string): string {
  return name.toLowerCase().replace(/\.gz$/, '').replace('.idx', '-idx');
}

/** Files whose name has a split token and a kind word; one per canonical name, .gz preferred as the published form. */
function matchingFiles(files: readonly string[], split: Split, kind: 'images' | 'labels'): string[] {
  const kindWords = kind === 'images' ? ['images', 'idx3'] : ['labels', 'idx1'];
  const byCanonical = new Map<string, string>();
  for (const name of files) {
    const lower = name.toLowerCase();
    if (!SPLIT_TOKENS[split].some((t) => lower.includes(t)) || !kindWords.some((w) => lower.includes(w))) continue;
    const key = canonicalName(name);
    const seen = byCanonical.get(key);
    if (!seen || (!seen.endsWith('.gz') && name.endsWith('.gz'))) byCanonical.set(key, name);
  }
  return [...byCanonical.values()];
}

/**
 * Finds the images and labels files of one split in `dir`. Named sets are tried
 * first (MNIST, then EMNIST digits) because the full EMNIST archive unpacks six
 * subsets side by side, which the generic pattern alone would call ambiguous.
 */
export async function findIdxPair(dir: string, split: Split): Promise<IdxPairFiles> {
  const files = await listFiles(dir);
  const present = new Set(files);
  const pick = (gzName: string) => nameVariants(gzName).find((n) => present.has(n)) ?? null;
  for (const named of [MNIST_FILES[split], EMNIST_DIGITS_FILES[split]]) {
    const images = pick(named.images);
    const labels = pick(named.labels);
    if (images && labels) return { images: join(dir, images), labels: join(dir, labels) };
  }

  const images = matchingFiles(files, split, 'images');
  const labels = matchingFiles(files, split, 'labels');
  if (images.length === 1 && labels.length === 1) return { images: join(dir, images[0]!), labels: join(dir, labels[0]!) };
  if (images.length > 1 || labels.length > 1) {
    throw new DatasetError(
      'DATASET_AMBIGUOUS',
      `${dir}: more than one ${split} IDX pair matches (images: ${images.join(', ') || 'none'}; labels: ${labels.join(', ') || 'none'}); ` +
        `keep one set per directory, or name it like MNIST or EMNIST digits`,
    );
  }
  const tokens = SPLIT_TOKENS[split];
  const tried = [
    `${MNIST_FILES[split].images} + ${MNIST_FILES[split].labels} (MNIST, .gz optional)`,
    `${EMNIST_DIGITS_FILES[split].images} + ${EMNIST_DIGITS_FILES[split].labels} (EMNIST digits, .gz optional)`,
    `one *${tokens.join('*|*')}*images* (or idx3) file + one *${tokens.join('*|*')}*labels* (or idx1) file`,
  ];
  const shown = files.length > 0 ? files.slice(0, 20).join(', ') + (files.length > 20 ? `, ... (${files.length} files)` : '') : 'no files';
  throw new DatasetNotFoundError(`no ${split} IDX pair in ${dir}: looked for ${tried.join('; or ')}. Found: ${shown}`, tried);
}

/** Dataset name from the file prefix (`emnist-digits-train-...` gives emnist-digits), else the directory's name. */
function datasetName(dir: string, imagesPath: string, split: Split): string {
  const lower = basename(imagesPath).toLowerCase();
  const at = Math.min(...SPLIT_TOKENS[split].map((t) => lower.indexOf(t)).filter((i) => i >= 0));
  const prefix = lower.slice(0, at).replace(/[-_.]+$/, '');
  return `${prefix || basename(resolve(dir))}-${split}`;
}

/** One split of any IDX digit set in `dir` (MNIST, EMNIST digits, or a single matching pair). */
export async function loadIdxDigits(dir: string, split: Split, options: IdxDigitsOptions = {}): Promise<DigitDataset> {
  const files = await findIdxPair(dir, split);
  const transpose = options.transpose ?? basename(files.images).toLowerCase().startsWith('emnist-');
  return loadIdxPair(files.images, files.labels, datasetName(dir, files.images, split), { transpose });
}
