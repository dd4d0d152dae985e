/**
 * Loads labelled digit sets stored as IDX pairs: MNIST itself, and any set in
 * the same layout (EMNIST digits, Fashion-MNIST, a user's export).
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseIdx, IdxFormatError } from './idx.ts';
import type { DigitDataset } from './digit-dataset.ts';

export type Split = 'train' | 'test';

/** File names of the original MNIST distribution; EMNIST uses `emnist-digits-<split>-...`. */
export const MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte.gz', labels: 'train-labels-idx1-ubyte.gz' },
  test: { images: 't10k-images-idx3-ubyte.gz', labels: 't10k-labels-idx1-ubyte.gz' },
} as const;

export class DatasetNotFoundError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetNotFoundError';
  }
}

/** Finds `<stem>` in `dir` as written (.gz) or unpacked (without .gz, or with '.' before idx as some mirrors name it). */
function resolveIdxFile(dir: string, gzName: string): string {
  const raw = gzName.replace(/\.gz$/, '');
  const candidates = [gzName, raw, raw.replace('-idx', '.idx'), `${raw.replace('-idx', '.idx')}.gz`];
  for (const name of candidates) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new DatasetNotFoundError(
    `${gzName} not found in ${dir} (set DATA_DIR, or fetch it with \`npm run data:download -- mnist\`)`,
  );
}

export async function loadIdxPair(imagesPath: string, labelsPath: string, name: string): Promise<DigitDataset> {
  const [imageBytes, labelBytes] = await Promise.all([readFile(imagesPath), readFile(labelsPath)]);
  const images = parseIdx(imageBytes, imagesPath);
  const labels = parseIdx(labelBytes, labelsPath);
  if (images.shape.length !== 3) {
    throw new IdxFormatError('IDX_BAD_MAGIC', `${imagesPath}: expected rank-3 images, got shape [${images.shape.join(', ')}]`);
  }
  if (labels.shape.length !== 1) {
    throw new IdxFormatError('IDX_BAD_MAGIC', `${labelsPath}: expected rank-1 labels, got shape [${labels.shape.join(', ')}]`);
  }
  const [count, rows, cols] = images.shape as [number, number, number];
  if (labels.shape[0] !== count) {
    throw new IdxFormatError('IDX_LENGTH_MISMATCH', `${name}: ${count} images but ${labels.shape[0]} labels`);
  }
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) {
    throw new IdxFormatError('IDX_LENGTH_MISMATCH', `${labelsPath}: label ${labels.data[bad]} at index ${bad} is not a digit 0-9`);
  }
  return { name, count, rows, cols, images: images.data, labels: labels.data };
}

/** MNIST's train (60,000) or test (10,000) split from a directory holding the four original files. */
export async function loadMnist(dataDir: string, split: Split): Promise<DigitDataset> {
  const files = MNIST_FILES[split];
  return loadIdxPair(resolveIdxFile(dataDir, files.images), resolveIdxFile(dataDir, files.labels), `mnist-${split}`);
}
