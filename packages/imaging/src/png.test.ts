import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, flattenToLuma } from './decode.ts';
import { DEFAULT_PREPROCESS_OPTIONS } from './options.ts';
import { decodePlainPng } from './png.ts';
import { renderDigitImage } from './test-images.ts';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOUR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const FILTERS = 5;

function chunk(type: string, data: Uint8Array): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([length, body, crc]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** An 8-bit PNG of the samples, row y filtered with filter type y % 5, so every filter is exercised. */
function encodePng(samples: Uint8Array, width: number, height: number, channels: number, extraChunks: Buffer[] = []): Buffer {
  const rowBytes = width * channels;
  const filtered = Buffer.alloc(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const type = y % FILTERS;
    filtered[y * (rowBytes + 1)] = type;
    for (let i = 0; i < rowBytes; i++) {
      const at = (yy: number, ii: number) => (yy >= 0 && ii >= 0 ? samples[yy * rowBytes + ii]! : 0);
      const [x, a, b, c] = [at(y, i), at(y, i - channels), at(y - 1, i), at(y - 1, i - channels)];
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][type]!;
      filtered[y * (rowBytes + 1) + 1 + i] = (x - predictor) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = COLOUR_TYPE[channels]!;
  const idat = deflateSync(filtered);
  // Two IDAT chunks: decoders must join them.
  const half = idat.length >> 1;
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    ...extraChunks,
    chunk('IDAT', idat.subarray(0, half)),
    chunk('IDAT', idat.subarray(half)),
    chunk('IEND', new Uint8Array()),
  ]);
}

/** Deterministic samples with structure (so every filter predicts something) and noise. */
function samples(width: number, height: number, channels: number, opaque = false): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  let state = 7;
  for (let i = 0; i < out.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    const pixel = Math.floor(i / channels);
    const x = pixel % width;
    const y = Math.floor(pixel / width);
    const isAlpha = (channels === 2 || channels === 4) && i % channels === channels - 1;
    out[i] = isAlpha && opaque ? 255 : ((x * 9 + y * 5 + (i % channels) * 40 + (state >>> 28)) & 0xff);
  }
  return out;
}

/** What the sharp decode path makes of a PNG that needs no resampling. */
async function sharpWorking(png: Buffer): Promise<Uint8Array> {
  const { data, info } = await sharp(png).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return flattenToLuma({ data, width: info.width, height: info.height, channels: info.channels });
}

describe('decodePlainPng', () => {
  it.each([
    ['grey', 1],
    ['grey + alpha', 2],
    ['RGB', 3],
    ['RGBA', 4],
  ])('decodes %s with every filter type to the samples sharp decodes', async (_, channels) => {
    const [width, height] = [37, 23];
    const png = encodePng(samples(width, height, channels), width, height, channels);
    const decoded = decodePlainPng(png, 512, 1e6);
    expect(decoded).not.toBeNull();
    // sharp hands out grey as sRGB (R = G = B): compare in that form.
    const hasAlpha = channels % 2 === 0;
    const reference = await sharp(png).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    expect(reference.info.channels).toBe(hasAlpha ? 4 : 3);
    const { data } = decoded!;
    const asRgb = new Uint8Array(width * height * reference.info.channels);
    for (let i = 0, o = 0, d = 0; i < width * height; i++, d += channels) {
      const grey = channels <= 2;
      asRgb[o++] = data[d]!;
      asRgb[o++] = grey ? data[d]! : data[d + 1]!;
      asRgb[o++] = grey ? data[d]! : data[d + 2]!;
      if (hasAlpha) asRgb[o++] = data[d + channels - 1]!;
    }
    expect(Buffer.from(asRgb).equals(reference.data)).toBe(true);
    expect([decoded!.width, decoded!.height, decoded!.channels]).toEqual([width, height, channels]);
  });

  it.each([1, 2, 3, 4])('gives the working image sharp gives (%i channels, opaque and translucent)', async (channels) => {
    for (const opaque of [true, false]) {
      const png = encodePng(samples(31, 17, channels, opaque), 31, 17, channels);
      const { working, format, width, height } = await decodeImage(png, DEFAULT_PREPROCESS_OPTIONS);
      expect({ format, width, height }).toEqual({ format: 'png', width: 31, height: 17 });
      expect(working.data).toEqual(await sharpWorking(png));
    }
  });

  it('decodes the drawings sharp writes', async () => {
    for (const render of [{ digit: 3 }, { digit: 5, alpha: true }, { digit: 2, width: 28, height: 28, digitHeight: 20, polarity: 'light-on-dark' as const }]) {
      const png = await renderDigitImage(render);
      expect(decodePlainPng(png, 512, 1e6)).not.toBeNull();
      expect((await decodeImage(png, DEFAULT_PREPROCESS_OPTIONS)).working.data).toEqual(await sharpWorking(png));
    }
  });

  it('leaves to sharp what it does not decode exactly: palette, 16-bit, interlaced, colour profile, EXIF', async () => {
    const rgb = () => sharp(Buffer.from(samples(40, 30, 3)), { raw: { width: 40, height: 30, channels: 3 } });
    const others = [
      await rgb().png({ palette: true }).toBuffer(),
      await rgb().toColourspace('rgb16').png().toBuffer(),
      await rgb().png({ progressive: true }).toBuffer(),
      await rgb().withIccProfile('p3').png().toBuffer(),
      await renderDigitImage({ digit: 1, exifOrientation: 6 }),
    ];
    for (const png of others) expect(decodePlainPng(png, 512, 1e6)).toBeNull();
  });

  it('leaves to sharp anything larger than the working size or the pixel limit', () => {
    const png = encodePng(samples(40, 30, 3), 40, 30, 3);
    expect(decodePlainPng(png, 40, 1200)).not.toBeNull();
    expect(decodePlainPng(png, 39, 1e6)).toBeNull();
    expect(decodePlainPng(png, 512, 1199)).toBeNull();
  });

  it('leaves damaged data to sharp (to report): bad CRC, broken stream, truncation, too much data', () => {
    const png = encodePng(samples(40, 30, 3), 40, 30, 3);
    const badCrc = Buffer.from(png);
    badCrc[40] = badCrc[40]! ^ 1; // inside the first IDAT
    const tooMuch = encodePng(samples(40, 31, 3), 40, 31, 3);
    tooMuch.writeUInt32BE(30, 20); // header says 30 rows, data has 31
    tooMuch.writeUInt32BE(crc32(tooMuch.subarray(12, 29)) >>> 0, 29);
    for (const damaged of [badCrc, png.subarray(0, png.length - 20), png.subarray(0, 30), tooMuch, Buffer.from('not a png')]) {
      expect(decodePlainPng(damaged, 512, 1e6)).toBeNull();
    }
  });
});
