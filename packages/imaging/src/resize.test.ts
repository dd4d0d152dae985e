import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { digitBoxSize } from './frame.ts';
import { resizeGrey } from './resize.ts';

/** Strokes, soft edges and noise: something every kernel tap and rounding step shows up in. */
function image(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height);
  let state = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const stroke = (x * 7 + y * 13) % 41 < 12 ? 230 : 20;
      data[y * width + x] = Math.min(255, stroke + (state >>> 27));
    }
  }
  return data;
}

async function sharpResize(data: Uint8Array, width: number, height: number, to: { width: number; height: number }): Promise<Uint8Array> {
  const out = await sharp(data, { raw: { width, height, channels: 1 } })
    .resize({ ...to, fit: 'fill', kernel: 'lanczos3' })
    .toColourspace('b-w')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  expect([out.info.width, out.info.height, out.info.channels]).toEqual([to.width, to.height, 1]);
  return new Uint8Array(out.data);
}

describe('resizeGrey', () => {
  // Crops as locateInk makes them (scaled to the 20-px box) and odd targets: shrinking by integer
  // and fractional factors, box shrink plus Lanczos, enlarging, one axis each way, 1-px sides.
  const cases: [number, number, { width: number; height: number }][] = [
    [180, 240, digitBoxSize(180, 240)],
    [388, 672, digitBoxSize(388, 672)],
    [22, 14, digitBoxSize(22, 14)],
    [21, 21, digitBoxSize(21, 21)],
    [40, 20, digitBoxSize(40, 20)],
    [9, 14, digitBoxSize(9, 14)],
    [3, 5, digitBoxSize(3, 5)],
    [1, 400, digitBoxSize(1, 400)],
    [1806, 16, digitBoxSize(1806, 16)],
    [19, 23, { width: 25, height: 20 }],
    [30, 12, { width: 20, height: 17 }],
    [7, 7, { width: 7, height: 7 }],
  ];

  it.each(cases)('%ix%i -> %o gives the pixels sharp gives', async (width, height, to) => {
    const data = image(width, height, width * 31 + height);
    const mine = resizeGrey({ data, width, height }, to.width, to.height);
    expect([mine.width, mine.height]).toEqual([to.width, to.height]);
    expect(mine.data).toEqual(await sharpResize(data, width, height, to));
  });
});
