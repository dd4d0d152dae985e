import { afterEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { encodeIdx } from './idx.ts';
import { findIdxPair, loadIdxDigits, loadMnist, transposeImages } from './idx-digits.ts';
import { DatasetError, DatasetNotFoundError } from './errors.ts';
import { MNIST_PIXELS, MNIST_SIDE } from './digit-dataset.ts';
import { mnistDir } from './mnist-dir.test-helper.ts';

describe('loadMnist (real files)', () => {
  it('loads 60,000 training digits in the published order', async () => {
    const train = await loadMnist(mnistDir(), 'train');
    expect(train).toMatchObject({ name: 'mnist-train', count: 60_000, rows: 28, cols: 28 });
    expect(train.images.length).toBe(60_000 * MNIST_PIXELS);
    expect([...train.labels.subarray(0, 5)]).toEqual([5, 0, 4, 1, 9]);
  });

  it('loads 10,000 test digits', async () => {
    const test = await loadMnist(mnistDir(), 'test');
    expect(test).toMatchObject({ name: 'mnist-test', count: 10_000, rows: 28, cols: 28 });
    expect([...test.labels.subarray(0, 5)]).toEqual([7, 2, 1, 0, 4]);
  });

  it('finds the same files through loadIdxDigits', async () => {
    const files = await findIdxPair(mnistDir(), 'test');
    expect(basename(files.images)).toBe('t10k-images-idx3-ubyte.gz');
    expect(basename(files.labels)).toBe('t10k-labels-idx1-ubyte.gz');
  });

  it('says how to get the files when they are missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'digitq-mnist-'));
    try {
      const error = await loadMnist(empty, 'train').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatasetNotFoundError);
      expect((error as Error).message).toContain('npm run data:download -- mnist');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

/** A 28x28 digit that is not symmetric about its diagonal: a bar across row 3, columns 5-20. */
function barImage(seed: number): Uint8Array {
  const image = new Uint8Array(MNIST_PIXELS);
  for (let c = 5; c <= 20; c++) image[3 * MNIST_SIDE + c] = 200 + seed;
  image[seed] = 1;
  return image;
}

function concat(images: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(images.length * MNIST_PIXELS);
  images.forEach((image, i) => out.set(image, i * MNIST_PIXELS));
  return out;
}

describe('loadIdxDigits', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function fixtureDir(name = 'digits'): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'digitq-idxdigits-'));
    dirs.push(root);
    const dir = join(root, name);
    await mkdir(dir);
    return dir;
  }

  async function writePair(dir: string, images: string, labels: string, pixels: Uint8Array, labelValues: readonly number[], gzip = true): Promise<void> {
    const count = labelValues.length;
    const encode = (bytes: Uint8Array) => (gzip ? gzipSync(bytes) : bytes);
    await writeFile(join(dir, images), encode(encodeIdx([count, MNIST_SIDE, MNIST_SIDE], pixels)));
    await writeFile(join(dir, labels), encode(encodeIdx([count], Uint8Array.from(labelValues))));
  }

  const originals = [barImage(0), barImage(1), barImage(2)];
  const labels = [3, 8, 1];

  it('un-transposes EMNIST images, detected from the file name', async () => {
    const dir = await fixtureDir('emnist');
    const stored = transposeImages(concat(originals), originals.length, MNIST_SIDE, MNIST_SIDE);
    await writePair(dir, 'emnist-digits-train-images-idx3-ubyte.gz', 'emnist-digits-train-labels-idx1-ubyte.gz', stored, labels);

    const set = await loadIdxDigits(dir, 'train');
    expect(set.name).toBe('emnist-digits-train');
    expect([...set.labels]).toEqual(labels);
    expect(Buffer.from(set.images).equals(Buffer.from(concat(originals)))).toBe(true);

    const raw = await loadIdxDigits(dir, 'train', { transpose: false });
    expect(Buffer.from(raw.images).equals(Buffer.from(stored))).toBe(true);
  });

  it('leaves MNIST-named files as they are unless asked to transpose', async () => {
    const dir = await fixtureDir('fashion');
    await writePair(dir, 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', concat(originals), labels, false);

    const set = await loadIdxDigits(dir, 'test');
    expect(set.name).toBe('fashion-test');
    expect(Buffer.from(set.images).equals(Buffer.from(concat(originals)))).toBe(true);

    const flipped = await loadIdxDigits(dir, 'test', { transpose: true });
    expect(flipped.images[5 * MNIST_SIDE + 3]).toBe(200);
  });

  it('picks EMNIST digits out of the full EMNIST archive', async () => {
    const dir = await fixtureDir('gzip');
    const stored = transposeImages(concat(originals), originals.length, MNIST_SIDE, MNIST_SIDE);
    await writePair(dir, 'emnist-digits-test-images-idx3-ubyte.gz', 'emnist-digits-test-labels-idx1-ubyte.gz', stored, labels);
    await writePair(dir, 'emnist-letters-test-images-idx3-ubyte.gz', 'emnist-letters-test-labels-idx1-ubyte.gz', stored, [1, 1, 1]);
    await writePair(dir, 'emnist-mnist-test-images-idx3-ubyte.gz', 'emnist-mnist-test-labels-idx1-ubyte.gz', stored, [2, 2, 2]);

    const set = await loadIdxDigits(dir, 'test');
    expect(set.name).toBe('emnist-digits-test');
    expect([...set.labels]).toEqual(labels);
  });

  it('accepts any single *train*images* / *train*labels* pair, and mirrors that unpack .gz', async () => {
    const dir = await fixtureDir();
    await writePair(dir, 'mydigits_train_images.idx', 'mydigits_train_labels.idx', concat(originals), labels, false);
    await writePair(dir, 'mydigits_test_images.idx', 'mydigits_test_labels.idx', concat(originals.slice(0, 1)), [7], false);
    // A downloader's temp file is hidden and must not make the pair ambiguous.
    await writeFile(join(dir, '.mydigits_train_images.idx.abc.part'), 'partial');

    const train = await loadIdxDigits(dir, 'train');
    expect(train).toMatchObject({ name: 'mydigits-train', count: 3 });
    const test = await loadIdxDigits(dir, 'test');
    expect(test).toMatchObject({ name: 'mydigits-test', count: 1 });
    expect([...test.labels]).toEqual([7]);
  });

  it('treats a file and its unpacked copy as one', async () => {
    const dir = await fixtureDir();
    await writePair(dir, 'set-train-images.idx3-ubyte.gz', 'set-train-labels.idx1-ubyte.gz', concat(originals), labels);
    await writePair(dir, 'set-train-images.idx3-ubyte', 'set-train-labels.idx1-ubyte', concat(originals), labels, false);
    const files = await findIdxPair(dir, 'train');
    expect(basename(files.images)).toBe('set-train-images.idx3-ubyte.gz');
  });

  it('refuses to guess between two generic pairs', async () => {
    const dir = await fixtureDir();
    await writePair(dir, 'a-train-images', 'a-train-labels', concat(originals), labels, false);
    await writePair(dir, 'b-train-images', 'b-train-labels', concat(originals), labels, false);
    const error = await loadIdxDigits(dir, 'train').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error).toMatchObject({ code: 'DATASET_AMBIGUOUS' });
    expect((error as Error).message).toContain('a-train-images, b-train-images');
  });

  it('lists what it looked for and what it found', async () => {
    const dir = await fixtureDir();
    await writeFile(join(dir, 'readme.txt'), 'hello');
    await writePair(dir, 'x-train-images', 'x-train-labels', concat(originals), labels, false);
    const error = await loadIdxDigits(dir, 'test').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    const message = (error as Error).message;
    expect(message).toContain('t10k-images-idx3-ubyte.gz');
    expect(message).toContain('emnist-digits-test-images-idx3-ubyte.gz');
    expect(message).toContain('*test*|*t10k*images*');
    expect(message).toContain('Found: readme.txt, x-train-images, x-train-labels');
    expect((error as DatasetNotFoundError).tried).toHaveLength(3);
  });

  it('reports a missing directory', async () => {
    const missing = join(tmpdir(), 'digitq-does-not-exist-7f3a');
    await expect(loadIdxDigits(missing, 'train')).rejects.toBeInstanceOf(DatasetNotFoundError);
    await expect(loadIdxDigits(missing, 'train')).rejects.toThrow(`dataset directory ${missing} does not exist`);
  });
});
