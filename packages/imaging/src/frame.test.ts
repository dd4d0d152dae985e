import { describe, expect, it } from 'vitest';
import { CENTRE_OF_MASS_TARGET, FRAME_PIXELS, FRAME_SIDE, centreInFrame, centreOfMass, digitBoxSize, frameBytes } from './frame.ts';

describe('digitBoxSize', () => {
  it('scales the longer side to 20 and keeps the aspect ratio', () => {
    expect(digitBoxSize(100, 200)).toEqual({ width: 10, height: 20 });
    expect(digitBoxSize(300, 150)).toEqual({ width: 20, height: 10 });
    expect(digitBoxSize(7, 7)).toEqual({ width: 20, height: 20 });
  });

  it('never makes a side 0', () => {
    expect(digitBoxSize(1, 400)).toEqual({ width: 1, height: 20 });
  });
});

describe('centreInFrame', () => {
  it('puts the centre of mass within half a pixel of (14, 14) and the maximum at 1', () => {
    const width = 12;
    const height = 20;
    const values = new Uint8Array(width * height);
    for (let y = 0; y < 6; y++) for (let x = 0; x < width; x++) values[y * width + x] = 200; // top-heavy, like a 7
    for (let y = 6; y < height; y++) values[y * width + 2] = 100;
    const frame = centreInFrame(values, width, height);
    expect(frame).toHaveLength(FRAME_PIXELS);
    const centre = centreOfMass(frame, FRAME_SIDE, FRAME_SIDE)!;
    expect(Math.abs(centre.x - CENTRE_OF_MASS_TARGET)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(centre.y - CENTRE_OF_MASS_TARGET)).toBeLessThanOrEqual(0.5);
    expect(Math.max(...frame)).toBe(1);
    expect(Math.min(...frame)).toBe(0);
  });

  it('returns an empty frame for empty input', () => {
    expect(centreInFrame(new Uint8Array(400), 20, 20).every((v) => v === 0)).toBe(true);
  });
});

describe('frameBytes', () => {
  it('rounds 255 * v, clamped to 0-255, as @digitq/contracts quantizePixels does', () => {
    const frame = Float32Array.from([0, 1, 0.5, 1 / 255, 0.5 / 255, 0.4 / 255, 254.5 / 255, -0.2, 1.3, 0.1234567]);
    const quantized = Uint8Array.from(frame, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    expect(frameBytes(frame)).toEqual(quantized);
    expect([...frameBytes(frame).subarray(0, 3)]).toEqual([0, 255, 128]);
  });
});
