import { describe, expect, it } from 'vitest';
import { MIN_STROKE_WIDTH, dilate, normaliseStrokeWidth, strokeWidth, type InkImage } from './stroke.ts';

/** A vertical bar `barWidth` wide and `length` long, centred in a box of `length` x `length`. */
function bar(barWidth: number, length: number): InkImage {
  const ink = new Uint8Array(length * length);
  const left = Math.floor((length - barWidth) / 2);
  for (let y = 0; y < length; y++) for (let x = left; x < left + barWidth; x++) ink[y * length + x] = 255;
  return { ink, width: length, height: length };
}

describe('strokeWidth', () => {
  it('measures the width of a long bar', () => {
    expect(strokeWidth(bar(6, 200))).toBeCloseTo(6, 0);
    expect(strokeWidth(bar(3, 200))).toBeCloseTo(3, 0);
  });

  it('is 0 without strokes', () => {
    expect(strokeWidth({ ink: new Uint8Array(100), width: 10, height: 10 })).toBe(0);
  });
});

describe('dilate', () => {
  it('grows a dot into a (2r+1) square and pads the image by r', () => {
    const ink = new Uint8Array(9);
    ink[4] = 200;
    const out = dilate({ ink, width: 3, height: 3 }, 2);
    expect([out.width, out.height]).toEqual([7, 7]);
    const lit = [...out.ink].map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    expect(lit).toHaveLength(25);
    expect(out.ink[3 * 7 + 3]).toBe(200);
    expect(out.ink[0]).toBe(0);
  });
});

describe('normaliseStrokeWidth', () => {
  it('thickens a hair-thin stroke to about the MNIST width at the 20-px scale', () => {
    const thin = bar(2, 400); // 0.1 px once scaled to 20 px
    const thick = normaliseStrokeWidth(thin);
    const scaled = (strokeWidth(thick) * 20) / Math.max(thick.width, thick.height);
    // strokeWidth counts the bar's ends as boundary too, so it reads a little low on a short, wide bar.
    expect(scaled).toBeGreaterThan(0.85 * MIN_STROKE_WIDTH);
    expect(scaled).toBeLessThan(1.15 * MIN_STROKE_WIDTH);
  });

  it('leaves MNIST-like and thick strokes alone', () => {
    const normal = bar(3, 20);
    expect(normaliseStrokeWidth(normal)).toBe(normal);
    const marker = bar(60, 200);
    expect(normaliseStrokeWidth(marker)).toBe(marker);
  });
});
