import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDigitFolder, type DecodeDigit } from './folder-digits.ts';
import { DatasetError, DatasetNotFoundError, ImageDecodeError } from './errors.ts';
import { MNIST_PIXELS } from './digit-dataset.ts';

/** The fixtures are not real PNGs: each file holds 784 raw pixel bytes, which this decoder passes through. */
const rawDecode: DecodeDigit = async (bytes, path) => {
  if (bytes.length !== MNIST_PIXELS) throw new Error(`not a fixture digit (${bytes.length} bytes) at ${path}`);
  return new Uint8Array(bytes);
};

/** Marks each fixture with its label and index so the loaded order can be read back from the pixels. */
function digitBytes(label: number, index: number): Uint8Array {
  const pixels = new Uint8Array(MNIST_PIXELS);
  pixels[0] = label;
  pixels[1] = index;
  pixels[400] = 255;
  return pixels;
}

describe('loadDigitFolder', () => {
  const roots: string[] = [];
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function folder(files: Record<string, Uint8Array | string>, name = 'my-digits'): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'digitq-folder-'));
    roots.push(root);
    const dir = join(root, name);
    await mkdir(dir);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
    return dir;
  }

  it('loads <label>/<image> files with labels from the folder names, in a deterministic order', async () => {
    const dir = await folder({
      '0/b.png': digitBytes(0, 1),
      '0/a.png': digitBytes(0, 0),
      '0/c.JPG': digitBytes(0, 2),
      '0/d.webp': digitBytes(0, 3),
      '1/x.jpeg': digitBytes(1, 0),
      '1/y.png': digitBytes(1, 1),
    });
    const result = await loadDigitFolder(dir, { decode: rawDecode, concurrency: 3 });
    expect(result.dataset).toMatchObject({ name: 'my-digits', count: 6, rows: 28, cols: 28 });
    // Labels spread through the set (0 1 0 0 1 0), each label's files in name order.
    expect([...result.dataset.labels]).toEqual([0, 1, 0, 0, 1, 0]);
    const marks = Array.from({ length: 6 }, (_, i) => [result.dataset.images[i * MNIST_PIXELS]!, result.dataset.images[i * MNIST_PIXELS + 1]!]);
    expect(marks).toEqual([[0, 0], [1, 0], [0, 1], [0, 2], [1, 1], [0, 3]]);
    expect(result.paths.map((p) => p.slice(dir.length + 1))).toEqual(['0/a.png', '1/x.jpeg', '0/b.png', '0/c.JPG', '1/y.png', '0/d.webp']);
    expect(result.ignored).toEqual([]);
    expect(result.skipped).toEqual([]);

    const again = await loadDigitFolder(dir, { decode: rawDecode, concurrency: 1 });
    expect(Buffer.from(again.dataset.images).equals(Buffer.from(result.dataset.images))).toBe(true);
  });

  it('ignores and lists entries that are not <digit>/<image>', async () => {
    const dir = await folder({
      '3/one.png': digitBytes(3, 0),
      '3/notes.txt': 'not an image',
      '3/nested/deep.png': digitBytes(3, 1),
      '3/.DS_Store': 'finder',
      '10/ten.png': digitBytes(1, 0),
      'rejected/r.png': digitBytes(9, 9),
      'README.md': 'about',
      '.hidden/h.png': digitBytes(0, 0),
    });
    const result = await loadDigitFolder(dir, { decode: rawDecode });
    expect([...result.dataset.labels]).toEqual([3]);
    expect(result.ignored).toEqual(['10', join('3', 'nested'), join('3', 'notes.txt'), 'README.md', 'rejected']);
  });

  it('scales float [0, 1] output to bytes, clamping out-of-range values', async () => {
    const dir = await folder({ '7/a.png': digitBytes(7, 0) });
    const floatDecode: DecodeDigit = async () => {
      const pixels = new Float32Array(MNIST_PIXELS);
      pixels[0] = 0.5;
      pixels[1] = 1;
      pixels[2] = 1.7;
      pixels[3] = -0.2;
      return pixels;
    };
    const { dataset } = await loadDigitFolder(dir, { decode: floatDecode });
    expect([...dataset.images.subarray(0, 5)]).toEqual([128, 255, 255, 0, 0]);
  });

  it('reports a missing folder', async () => {
    const missing = join(tmpdir(), 'digitq-no-such-folder-91c2');
    const error = await loadDigitFolder(missing, { decode: rawDecode }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetNotFoundError);
    expect((error as Error).message).toContain(missing);
  });

  it('reports a folder with no images, naming what it ignored', async () => {
    const dir = await folder({ 'five/a.png': digitBytes(5, 0), '5/readme.txt': 'empty' });
    const error = await loadDigitFolder(dir, { decode: rawDecode }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect(error).toMatchObject({ code: 'DATASET_EMPTY' });
    expect((error as Error).message).toContain('no images found');
    expect((error as Error).message).toContain('five');
  });

  it('fails on an undecodable file, naming it', async () => {
    const dir = await folder({ '2/good.png': digitBytes(2, 0), '2/broken.png': 'truncated png' });
    const error = await loadDigitFolder(dir, { decode: rawDecode }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as ImageDecodeError).path).toBe(join(dir, '2', 'broken.png'));
    expect((error as Error).message).toContain('not a fixture digit (13 bytes)');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('rejects decoder output of the wrong size', async () => {
    const dir = await folder({ '2/a.png': digitBytes(2, 0) });
    const error = await loadDigitFolder(dir, { decode: async () => new Uint8Array(100) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as Error).message).toContain('returned 100 values, expected 784');
  });

  it('skips undecodable files when asked, and lists them', async () => {
    const dir = await folder({
      '4/a.png': digitBytes(4, 0),
      '4/b.png': 'bad',
      '6/c.png': digitBytes(6, 0),
      '6/d.png': 'also bad',
    });
    const result = await loadDigitFolder(dir, { decode: rawDecode, skipBadFiles: true });
    expect([...result.dataset.labels]).toEqual([4, 6]);
    expect(result.paths).toEqual([join(dir, '4', 'a.png'), join(dir, '6', 'c.png')]);
    expect(result.skipped.map((s) => s.path)).toEqual([join(dir, '4', 'b.png'), join(dir, '6', 'd.png')]);
    expect(result.skipped[0]!.reason).toContain('not a fixture digit');
  });

  it('fails when every file is bad, even when skipping', async () => {
    const dir = await folder({ '4/b.png': 'bad' });
    await expect(loadDigitFolder(dir, { decode: rawDecode, skipBadFiles: true })).rejects.toMatchObject({ code: 'DATASET_EMPTY' });
  });
});
