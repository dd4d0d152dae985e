import { describe, expect, it } from 'vitest';
import { DIGIT_SIDE, PIXELS_PER_IMAGE } from '@digitq/contracts';
import type { InferenceEngine } from '@digitq/model';
import { occlusionMap } from './explain.ts';

/** Rows and columns [8, 12) of the image: the only place the stub model looks. */
const LOOK = { from: 8, to: 12 };
const inLook = (i: number) => {
  const row = Math.floor(i / DIGIT_SIDE);
  const col = i % DIGIT_SIDE;
  return row >= LOOK.from && row < LOOK.to && col >= LOOK.from && col < LOOK.to;
};

/** A model that says 3 with the share of ink in its window, and 0 with the rest; it counts its calls. */
function stubEngine(): InferenceEngine & { calls: number; images: number } {
  const stub = {
    calls: 0,
    images: 0,
    async predict(batch: Float32Array) {
      stub.calls += 1;
      const n = batch.length / PIXELS_PER_IMAGE;
      stub.images += n;
      const out = new Float32Array(n * 10);
      for (let b = 0; b < n; b++) {
        let ink = 0;
        for (let i = 0; i < PIXELS_PER_IMAGE; i++) if (inLook(i)) ink += batch[b * PIXELS_PER_IMAGE + i]!;
        const p3 = ink / ((LOOK.to - LOOK.from) ** 2);
        out[b * 10 + 3] = p3;
        out[b * 10] = 1 - p3;
      }
      return out;
    },
    describe: () => ({ engine: 'tfjs' as const, threads: 1, device: 'cpu' as const, backend: 'stub' }),
    dispose: async () => undefined,
  };
  return stub;
}

describe('occlusionMap', () => {
  it('puts the importance where the model looks, scaled to [0, 1], in one engine call', async () => {
    const engine = stubEngine();
    const fullInk = new Uint8Array(PIXELS_PER_IMAGE).fill(255);
    const map = await occlusionMap(engine, fullInk, 3);

    expect(map).toHaveLength(PIXELS_PER_IMAGE);
    expect(engine.calls).toBe(1);
    // 13 x 13 patches of 4 at stride 2, and the image itself.
    expect(engine.images).toBe(13 * 13 + 1);
    expect(Math.max(...map)).toBe(1);
    expect(Math.min(...map)).toBe(0);
    const inside = map.filter((_, i) => inLook(i));
    const far = map.filter((_, i) => {
      const row = Math.floor(i / DIGIT_SIDE);
      const col = i % DIGIT_SIDE;
      return row < LOOK.from - 4 || row >= LOOK.to + 4 || col < LOOK.from - 4 || col >= LOOK.to + 4;
    });
    expect(Math.min(...inside)).toBeGreaterThan(0.5);
    expect(Math.max(...far)).toBe(0);
  });

  it('is all zeros when hiding nothing lowers the digit (no ink where the model looks)', async () => {
    const blank = new Uint8Array(PIXELS_PER_IMAGE);
    const map = await occlusionMap(stubEngine(), blank, 3);
    expect(map.every((v) => v === 0)).toBe(true);
  });
});
