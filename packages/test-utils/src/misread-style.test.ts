import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { crossZero, crossedZeroImages, plainDigitImages, renderMnistDigit, type DigitImages } from './misread-style.ts';

const SIDE = 28;

/** A ring (a zero) or a bar (a one) in MNIST's layout, white on black. */
function digit(kind: 'ring' | 'bar', shift = 0): Uint8Array {
  const pixels = new Uint8Array(SIDE * SIDE);
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      const r = Math.hypot((x - 14 - shift) / 5, (y - 14) / 8);
      const on = kind === 'ring' ? Math.abs(r - 1) < 0.25 : Math.abs(x - 14 - shift) < 2 && y > 5 && y < 23;
      if (on) pixels[y * SIDE + x] = 255;
    }
  }
  return pixels;
}

function set(digits: { pixels: Uint8Array; label: number }[]): DigitImages {
  const images = new Uint8Array(digits.length * SIDE * SIDE);
  digits.forEach((d, i) => images.set(d.pixels, i * SIDE * SIDE));
  return { count: digits.length, images, labels: Uint8Array.from(digits.map((d) => d.label)) };
}

const mixed = set([
  { pixels: digit('ring', -1), label: 0 },
  { pixels: digit('bar'), label: 1 },
  { pixels: digit('ring', 1), label: 0 },
  { pixels: digit('ring', 0), label: 0 },
]);

/** A seeded generator replaying fixed draws, to place the stroke exactly. */
const constant = (value: number) => () => value;

describe('crossed zeros', () => {
  it('are dark ink on white paper, the zero kept and a stroke running from beyond its top left to beyond its bottom right', () => {
    const plain = renderMnistDigit(digit('ring'));
    const crossed = crossZero(digit('ring'), constant(0.5));
    expect(crossed.width).toBe(plain.width);
    expect(crossed.data.length).toBe(crossed.width * crossed.height);
    const at = (image: typeof plain, x: number, y: number) => image.data[Math.round(y) * image.width + Math.round(x)]!;
    // Output pixels per MNIST pixel, and the paper around the 28x28 digit.
    const scale = 4;
    const margin = (crossed.width - SIDE * scale) / 2;
    const out = (v: number) => v * scale + margin;
    // The ring's left edge is ink in both; the centre is paper in the plain one and ink (the stroke) in the crossed one.
    expect(at(plain, out(9), out(14))).toBeLessThan(100);
    expect(at(crossed, out(9), out(14))).toBeLessThan(100);
    expect(at(plain, out(14), out(14))).toBe(255);
    expect(at(crossed, out(14), out(14))).toBeLessThan(100);
    // Beyond the ring's ink box (x 8-20, y 4-24) on the diagonal: paper in the plain one, the stroke's overshoot in the crossed one.
    expect(at(plain, out(6.85), out(2.5))).toBe(255);
    expect(at(crossed, out(6.85), out(2.5))).toBeLessThan(100);
    expect(at(plain, out(21.15), out(25.5))).toBe(255);
    expect(at(crossed, out(21.15), out(25.5))).toBeLessThan(100);
    // The other diagonal stays paper.
    expect(at(crossed, out(21), out(2.5))).toBe(255);
  });

  it('are drawn from distinct zeros in the set order, the same for the same seed and different for another', async () => {
    const first = await crossedZeroImages(mixed, { count: 2, seed: 7 });
    expect(first.map((d) => [d.source, d.label])).toEqual([
      [0, 0],
      [2, 0],
    ]);
    const again = await crossedZeroImages(mixed, { count: 2, seed: 7 });
    expect(again.map((d, i) => d.png.equals(first[i]!.png))).toEqual([true, true]);
    const other = await crossedZeroImages(mixed, { count: 2, seed: 8 });
    expect(other[0]!.png.equals(first[0]!.png)).toBe(false);
    const later = await crossedZeroImages(mixed, { count: 1, skip: 2, seed: 7 });
    expect(later.map((d) => d.source)).toEqual([3]);
    const { width, height, channels } = await sharp(first[0]!.png).metadata();
    expect([width, height, channels]).toEqual([160, 160, 1]);
  });

  it('refuse a set with too few zeros and a digit that is not 28x28', async () => {
    await expect(crossedZeroImages(mixed, { count: 2, skip: 2 })).rejects.toThrow(/1 matching digits after skipping 2, 2 wanted/);
    expect(() => crossZero(new Uint8Array(100), constant(0.5))).toThrow(RangeError);
    expect(() => crossZero(new Uint8Array(SIDE * SIDE), constant(0.5))).toThrow(/no ink/);
  });

  it('come with plain renderings of any digits as the control group', async () => {
    const ones = await plainDigitImages(mixed, { count: 1, labels: [1] });
    expect(ones.map((d) => [d.source, d.label])).toEqual([[1, 1]]);
    const all = await plainDigitImages(mixed, { count: 4 });
    expect(all.map((d) => d.label)).toEqual([0, 1, 0, 0]);
  });
});
