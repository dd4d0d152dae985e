import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx, IdxFormatError, parseIdx, type IdxErrorCode } from './idx.ts';
import { loadIdxPair } from './idx-digits.ts';
import { DatasetError } from './errors.ts';

const IMAGE_SHAPE = [2, 3, 4] as const;
const imageData = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10);
const goodImages = encodeIdx(IMAGE_SHAPE, imageData);

function idxError(run: () => unknown): IdxFormatError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(IdxFormatError);
    expect(error).toBeInstanceOf(DatasetError);
    return error as IdxFormatError;
  }
  throw new Error('expected parseIdx to throw');
}

function expectCode(bytes: Uint8Array, code: IdxErrorCode, messagePart: string): void {
  const error = idxError(() => parseIdx(bytes, 'fixture.idx'));
  expect(error.code).toBe(code);
  expect(error.message).toContain('fixture.idx');
  expect(error.message).toContain(messagePart);
}

describe('parseIdx', () => {
  it('reads raw unsigned-byte IDX', () => {
    const parsed = parseIdx(goodImages);
    expect(parsed.shape).toEqual([2, 3, 4]);
    expect([...parsed.data]).toEqual([...imageData]);
  });

  it('reads gzip-compressed IDX', () => {
    const parsed = parseIdx(gzipSync(goodImages));
    expect(parsed.shape).toEqual([2, 3, 4]);
    expect([...parsed.data]).toEqual([...imageData]);
  });

  it('reads rank-1 labels', () => {
    const parsed = parseIdx(encodeIdx([3], Uint8Array.of(7, 0, 9)));
    expect(parsed.shape).toEqual([3]);
    expect([...parsed.data]).toEqual([7, 0, 9]);
  });

  it('rejects a file shorter than the magic', () => {
    expectCode(Uint8Array.of(0, 0), 'IDX_TRUNCATED', '4-byte IDX magic');
  });

  it('rejects a truncated header', () => {
    expectCode(goodImages.subarray(0, 10), 'IDX_TRUNCATED', 'header needs 16 bytes');
  });

  it('rejects truncated data', () => {
    expectCode(goodImages.subarray(0, goodImages.length - 1), 'IDX_TRUNCATED', 'needs 24 data bytes, file has 23');
  });

  it('rejects trailing data', () => {
    const longer = new Uint8Array(goodImages.length + 1);
    longer.set(goodImages);
    expectCode(longer, 'IDX_LENGTH_MISMATCH', 'trailing data');
  });

  it('rejects a wrong magic', () => {
    const bad = goodImages.slice();
    bad[0] = 0x50;
    expectCode(bad, 'IDX_BAD_MAGIC', 'not an IDX file');
  });

  it('rejects rank 0', () => {
    expectCode(Uint8Array.of(0, 0, 0x08, 0), 'IDX_BAD_MAGIC', 'rank 0');
  });

  it('rejects data types other than unsigned byte', () => {
    const floats = goodImages.slice();
    floats[2] = 0x0d;
    expectCode(floats, 'IDX_UNSUPPORTED_TYPE', '0xd');
  });

  it('rejects a truncated gzip stream', () => {
    const gz = gzipSync(goodImages);
    expectCode(gz.subarray(0, gz.length - 6), 'IDX_BAD_GZIP', 'gzip');
  });

  it('rejects a gzip stream with a bad checksum', () => {
    const gz = gzipSync(goodImages);
    gz[gz.length - 5]! ^= 0xff;
    const error = idxError(() => parseIdx(gz, 'fixture.idx'));
    expect(error.code).toBe('IDX_BAD_GZIP');
    expect(error.cause).toBeInstanceOf(Error);
  });
});

describe('loadIdxPair', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'digitq-idx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  it('pairs images and labels into a dataset', async () => {
    const images = await write('ok-images', goodImages);
    const labels = await write('ok-labels.gz', gzipSync(encodeIdx([2], Uint8Array.of(4, 2))));
    const set = await loadIdxPair(images, labels, 'ok');
    expect(set).toMatchObject({ name: 'ok', count: 2, rows: 3, cols: 4 });
    expect([...set.labels]).toEqual([4, 2]);
    expect([...set.images]).toEqual([...imageData]);
  });

  it('rejects more labels than images', async () => {
    const images = await write('mm-images', goodImages);
    const labels = await write('mm-labels', encodeIdx([3], Uint8Array.of(1, 2, 3)));
    await expect(loadIdxPair(images, labels, 'mm')).rejects.toMatchObject({
      code: 'IDX_LENGTH_MISMATCH',
      message: expect.stringContaining('2 images') as unknown,
    });
  });

  it('rejects labels outside 0-9', async () => {
    const images = await write('bl-images', goodImages);
    const labels = await write('bl-labels', encodeIdx([2], Uint8Array.of(3, 10)));
    await expect(loadIdxPair(images, labels, 'bl')).rejects.toMatchObject({ code: 'IDX_BAD_LABEL', message: expect.stringContaining('index 1') as unknown });
  });

  it('rejects images that are not rank 3', async () => {
    const images = await write('r2-images', encodeIdx([2, 12], imageData));
    const labels = await write('r2-labels', encodeIdx([2], Uint8Array.of(3, 1)));
    await expect(loadIdxPair(images, labels, 'r2')).rejects.toMatchObject({ code: 'IDX_BAD_SHAPE' });
  });
});
