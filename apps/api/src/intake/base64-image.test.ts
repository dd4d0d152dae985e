import { describe, expect, it } from 'vitest';
import { AppError } from '@digitq/contracts';
import { decodeBase64Image } from './base64-image.ts';

const BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xfb, 0xff, 0x00, 0x01]);

describe('decodeBase64Image', () => {
  it.each([
    ['raw base64', BYTES.toString('base64')],
    ['base64 without padding', BYTES.toString('base64').replace(/=+$/, '')],
    ['URL-safe base64', BYTES.toString('base64url')],
    ['base64 wrapped in lines', BYTES.toString('base64').replace(/(.{4})/g, '$1\n')],
    ['a data: URL', `data:image/png;base64,${BYTES.toString('base64')}`],
    ['a data: URL with parameters', `data:image/png;name=x.png;base64,${BYTES.toString('base64')}`],
  ])('decodes %s', (_, value) => {
    const image = decodeBase64Image(value, 0, 1);
    expect(Buffer.from(image.bytes)).toEqual(BYTES);
    expect(image.name).toBe('images[0]');
  });

  it.each([
    ['characters outside base64', 'not base64!'],
    ['an impossible length', 'AAAAA'],
    ['a data: URL that is not base64', 'data:image/png,%89PNG'],
    ['padding in the middle', 'AA==AAAA'],
  ])('rejects %s, naming the image', (_, value) => {
    let error: unknown;
    try {
      decodeBase64Image(value, 1, 3);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('VALIDATION_FAILED');
    expect((error as AppError).message).toMatch(/^image 2 of 3 \(images\[1\]\): /);
  });
});
