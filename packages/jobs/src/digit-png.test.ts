import { crc32, deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { decodeDigitPng, encodeDigitPng } from './digit-png.ts';

function gradient(): Uint8Array {
  return Uint8Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i * 37) % 256);
}

describe('digit PNG', () => {
  it('decodes what it encodes, byte for byte', () => {
    const pixels = gradient();
    const png = encodeDigitPng(pixels);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(decodeDigitPng(png)).toEqual(pixels);
  });

  it('undoes every row filter an image tool may write', () => {
    // Rows filtered with Sub, Up, Average and Paeth in turn, encoded by hand.
    const pixels = gradient();
    const side = 28;
    const at = (x: number, y: number) => (x < 0 || y < 0 ? 0 : pixels[y * side + x]!);
    const raw = Buffer.alloc(side * (side + 1));
    for (let y = 0; y < side; y++) {
      const filter = 1 + (y % 4);
      raw[y * (side + 1)] = filter;
      for (let x = 0; x < side; x++) {
        const a = at(x - 1, y);
        const b = at(x, y - 1);
        const c = at(x - 1, y - 1);
        const p = a + b - c;
        const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
        const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
        raw[y * (side + 1) + 1 + x] = (at(x, y) - predictor) & 0xff;
      }
    }
    const png = encodeDigitPng(new Uint8Array(PIXELS_PER_IMAGE));
    // Replace the IDAT of a valid file: same header, the filtered rows.
    const idatAt = png.indexOf('IDAT') - 4;
    const idatLength = png.readUInt32BE(idatAt);
    const data = deflateSync(raw);
    const chunk = Buffer.alloc(12 + data.length);
    chunk.writeUInt32BE(data.length, 0);
    chunk.write('IDAT', 4, 'latin1');
    data.copy(chunk, 8);
    chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    const refiltered = Buffer.concat([png.subarray(0, idatAt), chunk, png.subarray(idatAt + 12 + idatLength)]);
    expect(decodeDigitPng(refiltered)).toEqual(pixels);
  });

  it('refuses what is not an intact 28x28 greyscale PNG', () => {
    const png = encodeDigitPng(gradient());
    const damaged = Buffer.from(png);
    damaged[damaged.length - 20]! ^= 0xff;
    expect(decodeDigitPng(damaged)).toBeNull();
    expect(decodeDigitPng(png.subarray(0, 40))).toBeNull();
    expect(decodeDigitPng(Buffer.from('not a png at all'))).toBeNull();
    expect(() => encodeDigitPng(new Uint8Array(10))).toThrow(RangeError);
  });
});
