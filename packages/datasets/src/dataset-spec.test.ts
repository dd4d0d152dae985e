import { afterEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatDatasets, datasetSpecDir, formatDatasetSpec, loadTrainingDataset, parseDatasetSpec, usesFeedback } from './dataset-spec.ts';
import type { DigitDataset } from './digit-dataset.ts';
import { encodeIdx } from './idx.ts';
import { MNIST_FILES } from './idx-digits.ts';
import { DatasetError } from './errors.ts';
import { MNIST_PIXELS, MNIST_SIDE } from './digit-dataset.ts';
import type { DecodeDigit } from './folder-digits.ts';

describe('parseDatasetSpec', () => {
  it.each([
    ['mnist', { kind: 'mnist' }],
    ['idx:/data/emnist', { kind: 'idx', dir: '/data/emnist' }],
    ['folder:./my digits', { kind: 'folder', dir: './my digits' }],
    ['folder:C:\\digits', { kind: 'folder', dir: 'C:\\digits' }],
    ['feedback', { kind: 'feedback' }],
    ['mnist+feedback', { kind: 'mnist+feedback' }],
  ])('parses %j', (spec, expected) => {
    expect(parseDatasetSpec(spec)).toEqual(expected);
    expect(formatDatasetSpec(parseDatasetSpec(spec))).toBe(spec);
  });

  it.each([
    ['', 'unknown dataset'],
    ['MNIST', 'unknown dataset'],
    ['emnist', 'unknown dataset'],
    ['idx:', 'idx: needs a directory'],
    ['folder:  ', 'folder: needs a directory'],
    ['zip:/data/x.zip', 'unknown kind "zip"'],
    ['feedback+mnist', 'unknown dataset'],
    ['feedback:/data', 'unknown kind "feedback"'],
  ])('rejects %j', (spec, why) => {
    let error: unknown;
    try {
      parseDatasetSpec(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatasetError);
    expect(error).toMatchObject({ code: 'DATASET_BAD_SPEC' });
    expect((error as Error).message).toContain(`invalid dataset ${JSON.stringify(spec)}: ${why}`);
    expect((error as Error).message).toContain('mnist, idx:<dir>, folder:<dir>, feedback, mnist+feedback');
  });

  it('names the folder a spec reads, and whether it needs the corrections', () => {
    expect(datasetSpecDir(parseDatasetSpec('idx:/data/emnist'))).toBe('/data/emnist');
    expect(datasetSpecDir(parseDatasetSpec('mnist+feedback'))).toBeNull();
    expect(['mnist', 'idx:/x', 'folder:/x', 'feedback', 'mnist+feedback'].map((spec) => usesFeedback(parseDatasetSpec(spec)))).toEqual([false, false, false, true, true]);
  });
});

describe('loadTrainingDataset', () => {
  const roots: string[] = [];
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'digitq-spec-'));
    roots.push(dir);
    return dir;
  }

  async function writeIdxPair(dir: string, images: string, labels: string, labelValues: number[], side = MNIST_SIDE): Promise<void> {
    const count = labelValues.length;
    await writeFile(join(dir, images), gzipSync(encodeIdx([count, side, side], new Uint8Array(count * side * side))));
    await writeFile(join(dir, labels), gzipSync(encodeIdx([count], Uint8Array.from(labelValues))));
  }

  const rawDecode: DecodeDigit = async (bytes) => new Uint8Array(bytes);

  it('mnist: both splits from dataDir', async () => {
    const dir = await tempDir();
    await writeIdxPair(dir, MNIST_FILES.train.images, MNIST_FILES.train.labels, [5, 0, 4]);
    await writeIdxPair(dir, MNIST_FILES.test.images, MNIST_FILES.test.labels, [7]);
    const data = await loadTrainingDataset('mnist', { dataDir: dir });
    expect(data.train).toMatchObject({ name: 'mnist-train', count: 3 });
    expect(data.test).toMatchObject({ name: 'mnist-test', count: 1 });
    expect(data.warnings).toEqual([]);
  });

  it('idx: a directory with only a train split gives test null and a warning', async () => {
    const dir = await tempDir();
    await writeIdxPair(dir, 'emnist-digits-train-images-idx3-ubyte.gz', 'emnist-digits-train-labels-idx1-ubyte.gz', [1, 2]);
    const data = await loadTrainingDataset(`idx:${dir}`, { dataDir: '/unused' });
    expect(data.train).toMatchObject({ name: 'emnist-digits-train', count: 2 });
    expect(data.test).toBeNull();
    expect(data.warnings).toEqual([`${dir}: no test split found, train only`]);
  });

  it('idx: rejects images the model cannot take', async () => {
    const dir = await tempDir();
    await writeIdxPair(dir, 'small-train-images', 'small-train-labels', [1], 8);
    await expect(loadTrainingDataset({ kind: 'idx', dir }, { dataDir: '/unused' })).rejects.toMatchObject({
      code: 'IDX_BAD_SHAPE',
      message: expect.stringContaining('8x8') as unknown,
    });
  });

  it('folder: needs a decoder', async () => {
    const dir = await tempDir();
    await expect(loadTrainingDataset(`folder:${dir}`, { dataDir: '/unused' })).rejects.toMatchObject({ code: 'DECODER_REQUIRED' });
  });

  it('folder: loads train only and passes on what was ignored or skipped', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, '8'));
    await writeFile(join(dir, '8', 'a.png'), new Uint8Array(MNIST_PIXELS));
    await writeFile(join(dir, '8', 'b.png'), 'short');
    await writeFile(join(dir, 'notes.md'), 'hi');
    const data = await loadTrainingDataset(`folder:${dir}`, { dataDir: '/unused', decode: rawDecode, skipBadFiles: true });
    expect(data.train.count).toBe(1);
    expect([...data.train.labels]).toEqual([8]);
    expect(data.test).toBeNull();
    expect(data.warnings).toHaveLength(2);
    expect(data.warnings[0]).toContain('ignored notes.md');
    expect(data.warnings[1]).toContain(join(dir, '8', 'b.png'));
  });

  it('feedback, mnist+feedback: not from files (the worker reads the feedback store)', async () => {
    await expect(loadTrainingDataset('feedback', { dataDir: '/unused' })).rejects.toMatchObject({ code: 'FEEDBACK_REQUIRED' });
    await expect(loadTrainingDataset('mnist+feedback', { dataDir: '/unused' })).rejects.toMatchObject({ code: 'FEEDBACK_REQUIRED' });
  });

  it('concatDatasets: sets one after another, images with their labels', () => {
    const set = (name: string, count: number, fill: number): DigitDataset => ({
      name,
      count,
      rows: MNIST_SIDE,
      cols: MNIST_SIDE,
      images: new Uint8Array(count * MNIST_PIXELS).fill(fill),
      labels: new Uint8Array(count).fill(fill % 10),
    });
    const joined = concatDatasets('both', [set('a', 2, 7), set('b', 1, 3)]);
    expect(joined).toMatchObject({ name: 'both', count: 3, rows: MNIST_SIDE, cols: MNIST_SIDE });
    expect([...joined.labels]).toEqual([7, 7, 3]);
    expect([joined.images[MNIST_PIXELS + 5], joined.images[2 * MNIST_PIXELS + 5]]).toEqual([7, 3]);
    expect(() => concatDatasets('bad', [{ ...set('c', 1, 1), rows: 16, cols: 16, images: new Uint8Array(256) }])).toThrow(/16x16/);
  });

  it('passes on invalid specs as typed errors', async () => {
    await expect(loadTrainingDataset('mnist-fashion', { dataDir: '/unused' })).rejects.toMatchObject({ code: 'DATASET_BAD_SPEC' });
  });
});
