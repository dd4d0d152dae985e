/** Test-only: where the real MNIST files are. CI sets DATA_DIR=../shared/data/mnist (relative to the repo root). */
import { resolve } from 'node:path';

export function mnistDir(): string {
  const dir = process.env.DATA_DIR;
  if (!dir) throw new Error('DATA_DIR is unset: point it at the folder with the four MNIST .gz files (e.g. DATA_DIR=../shared/data/mnist)');
  return resolve(dir);
}
