import { describe, expect, it } from 'vitest';
import { MemoryReclaimer, RECLAIM_AFTER_BYTES, RECLAIM_DELAY_MS } from './memory-reclaim.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('MemoryReclaimer', () => {
  it('collects once after a burst of large bodies, when none is left in flight', async () => {
    let collections = 0;
    const reclaimer = new MemoryReclaimer(() => collections++);
    reclaimer.bodyAnswered(RECLAIM_AFTER_BYTES, false);
    reclaimer.bodyAnswered(RECLAIM_AFTER_BYTES, true);
    await sleep(RECLAIM_DELAY_MS + 200);
    expect(collections).toBe(1);
  });

  it('leaves small bodies and busy moments alone', async () => {
    let collections = 0;
    const reclaimer = new MemoryReclaimer(() => collections++);
    reclaimer.bodyAnswered(1024, true);
    reclaimer.bodyAnswered(RECLAIM_AFTER_BYTES, false);
    await sleep(RECLAIM_DELAY_MS + 200);
    expect(collections).toBe(0);
  });

  it('reaches V8 collection without --expose-gc', () => {
    expect(() => new MemoryReclaimer()).not.toThrow();
  });
});
