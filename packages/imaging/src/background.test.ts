import { describe, expect, it } from 'vitest';
import { fitBackground, planeX, planeY } from './background.ts';

function image(width: number, height: number, value: (x: number, y: number) => number) {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = value(x, y);
  return { data, width, height };
}

describe('fitBackground', () => {
  it('finds a flat page exactly, with no noise', () => {
    const plane = fitBackground(image(40, 30, () => 200));
    expect(plane.level).toBeCloseTo(200, 9);
    expect(plane.slopeX).toBeCloseTo(0, 9);
    expect(plane.slopeY).toBeCloseTo(0, 9);
    expect(plane.noise).toBe(0);
  });

  it('recovers a lighting gradient', () => {
    const plane = fitBackground(image(200, 100, (x, y) => Math.round(150 + 80 * planeX(x, 200) - 40 * planeY(y, 100))));
    expect(plane.level).toBeCloseTo(150, 0);
    expect(plane.slopeX).toBeCloseTo(80, 0);
    expect(plane.slopeY).toBeCloseTo(-40, 0);
  });

  it('is not pulled by ink touching the border', () => {
    const plane = fitBackground(image(100, 100, (x) => (x >= 40 && x < 50 ? 0 : 220)));
    expect(plane.level).toBeCloseTo(220, 5);
    expect(Math.abs(plane.slopeX)).toBeLessThan(1e-6);
  });

  it('measures the paper noise', () => {
    const plane = fitBackground(image(100, 100, (x, y) => 128 + (((x * 31 + y * 17) % 7) - 3) * 4));
    expect(plane.noise).toBeGreaterThan(4);
    expect(plane.noise).toBeLessThan(16);
  });
});
