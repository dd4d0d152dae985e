/**
 * Hostile and odd uploads, each made in the test. Every one must end in an
 * ImageError with the right code or in a sane digit; none may crash or hang
 * the process (vitest's test timeout would catch a hang).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectImageFormat } from './decode.ts';
import { ImageError, type ImageErrorCode } from './errors.ts';
import { DEFAULT_PREPROCESS_OPTIONS } from './options.ts';
import { preprocessDigitImage, preprocessDigitImages } from './preprocess.ts';
import { measureDigit, renderDigitImage } from './test-images.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

/** A well-formed PNG header (valid CRCs) claiming width x height 8-bit grey, with a few bytes of image data. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: grey
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.alloc(1024))), pngChunk('IEND', new Uint8Array())]);
}

/** Rewrites the frame size in a JPEG's SOF0 marker (the decoder trusts it until the data runs out). */
function jpegClaiming(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; i++) {
    if (out[i] === 0xff && (out[i + 1] === 0xc0 || out[i + 1] === 0xc2)) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
  }
  throw new Error('no SOF marker');
}

/** A valid 2x2 24-bit BMP, a format sharp's libvips cannot read. */
function bmp2x2(): Buffer {
  const rowBytes = 8; // 2 px * 3 bytes, padded to 4
  const out = Buffer.alloc(54 + 2 * rowBytes);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(2, 18);
  out.writeInt32LE(2, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  return out;
}

async function outcome(bytes: Uint8Array): Promise<{ code: ImageErrorCode } | { format: string; polarity: string }> {
  try {
    const digit = await preprocessDigitImage(bytes);
    return { format: digit.format, polarity: digit.polarity };
  } catch (error) {
    if (error instanceof ImageError) return { code: error.code };
    throw error;
  }
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

let dir: string;
let png: Buffer;
let jpeg: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imaging-bad-input-'));
  png = await renderDigitImage({ digit: 3, width: 300, height: 240 });
  jpeg = await renderDigitImage({ digit: 3, width: 300, height: 240, format: 'jpeg' });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bad input corpus', () => {
  it('0 bytes -> IMAGE_EMPTY_INPUT', async () => {
    expect(await outcome(new Uint8Array(0))).toEqual({ code: 'IMAGE_EMPTY_INPUT' });
  });

  it('truncated PNG and JPEG -> IMAGE_CORRUPT', async () => {
    expect(await outcome(png.subarray(0, png.length >> 1))).toEqual({ code: 'IMAGE_CORRUPT' });
    expect(await outcome(jpeg.subarray(0, jpeg.length >> 1))).toEqual({ code: 'IMAGE_CORRUPT' });
  });

  it('a PNG cut inside its header -> IMAGE_CORRUPT', async () => {
    expect(await outcome(png.subarray(0, 20))).toEqual({ code: 'IMAGE_CORRUPT' });
  });

  it('a PNG whose image data is damaged (bad CRC, broken deflate stream) -> IMAGE_CORRUPT', async () => {
    const damaged = Buffer.from(png);
    for (let i = 100; i < damaged.length - 20; i += 7) damaged[i] = damaged[i]! ^ 0x5a;
    expect(await outcome(damaged)).toEqual({ code: 'IMAGE_CORRUPT' });
  });

  it('a text file named .png -> IMAGE_UNSUPPORTED_FORMAT (names are never trusted)', async () => {
    const path = join(dir, 'digit.png');
    await writeFile(path, 'this is a text file, not a PNG\n');
    expect(await outcome(await readFile(path))).toEqual({ code: 'IMAGE_UNSUPPORTED_FORMAT' });
  });

  it('a JPEG named .png is read as the JPEG it is', async () => {
    const path = join(dir, 'photo.png');
    await writeFile(path, jpeg);
    expect(await outcome(await readFile(path))).toEqual({ format: 'jpeg', polarity: 'dark-on-light' });
  });

  it('random bytes -> IMAGE_UNSUPPORTED_FORMAT', async () => {
    const noise = Buffer.alloc(4096);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    expect(await outcome(noise)).toEqual({ code: 'IMAGE_UNSUPPORTED_FORMAT' });
  });

  it('a PNG header claiming 100000x100000 -> IMAGE_TOO_MANY_PIXELS, before decoding', async () => {
    const forged = pngClaiming(100_000, 100_000);
    expect(forged.length).toBeLessThan(2000);
    expect(await outcome(forged)).toEqual({ code: 'IMAGE_TOO_MANY_PIXELS' });
  });

  it('a JPEG header claiming 60000x60000 -> IMAGE_TOO_MANY_PIXELS', async () => {
    expect(await outcome(jpegClaiming(jpeg, 60_000, 60_000))).toEqual({ code: 'IMAGE_TOO_MANY_PIXELS' });
  });

  it('a PNG header claiming 0x0 -> a typed error', async () => {
    const result = await outcome(pngClaiming(0, 0));
    expect(result).toEqual({ code: 'IMAGE_CORRUPT' });
  });

  it('a decompression bomb (a real 10000x10000 PNG of a few hundred KB) -> IMAGE_TOO_MANY_PIXELS', async () => {
    const bomb = await sharp({ create: { width: 10_000, height: 10_000, channels: 3, background: '#fff' } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(DEFAULT_PREPROCESS_OPTIONS.maxBytes); // the byte limit alone would let it through
    expect(await outcome(bomb)).toEqual({ code: 'IMAGE_TOO_MANY_PIXELS' });
    await expect(detectImageFormat(bomb)).rejects.toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS' });
  });

  it('an animated GIF -> its first frame', async () => {
    const first = await renderDigitImage({ digit: 1, offsetX: -70 });
    const second = await renderDigitImage({ digit: 7, offsetX: 70 });
    const gif = await sharp([first, second], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const digit = await preprocessDigitImage(gif);
    expect(digit.format).toBe('gif');
    expect([digit.width, digit.height]).toEqual([280, 280]);
    expect(digit.inkBox.left + digit.inkBox.width).toBeLessThan(140); // the 1 on the left, not the 7 on the right
    const alone = await preprocessDigitImage(await sharp(first).gif().toBuffer());
    expect(meanAbsDiff(digit.pixels, alone.pixels)).toBeLessThan(0.01);
  });

  it('a multi-page TIFF -> its first page', async () => {
    const pages = [await renderDigitImage({ digit: 4, offsetX: -60 }), await renderDigitImage({ digit: 9, offsetX: 60 })];
    const tiff = await sharp(pages, { join: { animated: true } }).tiff().toBuffer();
    const digit = await preprocessDigitImage(tiff);
    expect(digit.inkBox.left + digit.inkBox.width).toBeLessThan(140);
  });

  it.each(['rgb16', 'grey16'] as const)('a 16-bit PNG (%s) -> the same digit as 8-bit', async (space) => {
    const deep = await sharp(png).toColourspace(space).png().toBuffer();
    expect((await sharp(deep).metadata()).depth).toBe('ushort');
    const [a, b] = await Promise.all([preprocessDigitImage(deep), preprocessDigitImage(png)]);
    expect(a.polarity).toBe('dark-on-light');
    expect(meanAbsDiff(a.pixels, b.pixels)).toBeLessThan(0.02);
  });

  it('a CMYK JPEG -> the same digit as RGB', async () => {
    const cmyk = await sharp(png).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const [a, b] = await Promise.all([preprocessDigitImage(cmyk), preprocessDigitImage(png)]);
    expect(a.polarity).toBe('dark-on-light');
    expect(meanAbsDiff(a.pixels, b.pixels)).toBeLessThan(0.03);
  });

  it('a BMP -> IMAGE_UNSUPPORTED_FORMAT naming BMP', async () => {
    const error = await preprocessDigitImage(bmp2x2()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect(error).toMatchObject({ code: 'IMAGE_UNSUPPORTED_FORMAT', message: expect.stringContaining('BMP') });
  });

  it('an SVG -> IMAGE_UNSUPPORTED_FORMAT (sharp could render it; we refuse untrusted SVG)', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><path d="M50 10 L50 90" stroke="black" stroke-width="10"/></svg>');
    expect(await outcome(svg)).toEqual({ code: 'IMAGE_UNSUPPORTED_FORMAT' });
  });

  it('a 1x1 PNG and a 20000x1 strip -> IMAGE_BLANK', async () => {
    const dot = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer();
    const strip = await sharp({ create: { width: 20_000, height: 1, channels: 3, background: '#fff' } }).png().toBuffer();
    expect(await outcome(dot)).toEqual({ code: 'IMAGE_BLANK' });
    expect(await outcome(strip)).toEqual({ code: 'IMAGE_BLANK' });
  });

  it('a thin line across a wide strip -> a sane digit-like result', async () => {
    const strip = await sharp(
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="40"><rect width="100%" height="100%" fill="white"/><path d="M100 20 L1900 20" stroke="black" stroke-width="8"/></svg>'),
    )
      .png()
      .toBuffer();
    const digit = await preprocessDigitImage(strip);
    const layout = measureDigit(digit.pixels);
    expect(layout.box.width).toBe(20);
    expect(layout.max).toBe(1);
  });

  it('the whole corpus through the batch API: only ImageErrors and digits, never another exception', async () => {
    const corpus = [
      new Uint8Array(0),
      png.subarray(0, png.length >> 1),
      Buffer.from('text'),
      pngClaiming(100_000, 100_000),
      pngClaiming(0, 0),
      bmp2x2(),
      jpegClaiming(jpeg, 60_000, 60_000),
      await sharp(png).toColourspace('cmyk').jpeg().toBuffer(),
      png,
    ];
    const results = await preprocessDigitImages(corpus, { concurrency: 3 });
    expect(results).toHaveLength(corpus.length);
    for (const result of results) {
      if (!result.ok) expect(result.error).toBeInstanceOf(ImageError);
    }
    expect(results.filter((r) => r.ok)).toHaveLength(2);
  });
});
