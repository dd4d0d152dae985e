import { describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { encodeGreyPng } from '@digitq/imaging';
import { decodeDigitPng, encodeDigitPng } from './digit-png.ts';

function gradient(): Uint8Array {
  return Uint8Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i * 37) % 256);
}

// Row filters and chunk checks are @digitq/imaging's (png.test.ts); here: the digit's size and bytes.
describe('digit PNG', () => {
  it('decodes what it encodes, byte for byte', () => {
    const pixels = gradient();
    const png = encodeDigitPng(pixels);
    expect(Buffer.from(png.subarray(1, 4)).toString('latin1')).toBe('PNG');
    expect(decodeDigitPng(png)).toEqual(pixels);
  });

  it('refuses what is not an intact 28x28 greyscale PNG', () => {
    const png = encodeDigitPng(gradient());
    const damaged = Buffer.from(png);
    damaged[damaged.length - 20]! ^= 0xff;
    expect(decodeDigitPng(damaged)).toBeNull();
    expect(decodeDigitPng(png.subarray(0, 40))).toBeNull();
    expect(decodeDigitPng(Buffer.from('not a png at all'))).toBeNull();
    expect(decodeDigitPng(encodeGreyPng({ data: new Uint8Array(16 * 16), width: 16, height: 16 }))).toBeNull();
    expect(() => encodeDigitPng(new Uint8Array(10))).toThrow(RangeError);
  });
});
