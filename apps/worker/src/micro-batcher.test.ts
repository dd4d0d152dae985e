import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './micro-batcher.ts';

function recordingBatcher(maxSize: number, maxDelayMs: number) {
  const batches: number[][] = [];
  const batcher = new MicroBatcher<number, number>({
    maxSize,
    maxDelayMs,
    run: async (items) => {
      batches.push(items);
      return items.map((x) => x * 10);
    },
  });
  return { batcher, batches };
}

describe('MicroBatcher', () => {
  it('gathers requests that arrive within the delay into one batch', async () => {
    const { batcher, batches } = recordingBatcher(8, 20);
    const results = await Promise.all([batcher.submit([1]), batcher.submit([2, 3]), batcher.submit([4])]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
    expect(results.map((r) => r.results)).toEqual([[10], [20, 30], [40]]);
    expect(results.every((r) => r.batchSize === 4)).toBe(true);
  });

  it('flushes as soon as the batch is full, without waiting for the delay', async () => {
    const { batcher, batches } = recordingBatcher(2, 60_000);
    const started = Date.now();
    await Promise.all([batcher.submit([1]), batcher.submit([2])]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(batches).toEqual([[1, 2]]);
  });

  it('never splits a request, and starts a new batch when the next one would overflow', async () => {
    const { batcher, batches } = recordingBatcher(3, 10);
    await Promise.all([batcher.submit([1, 2]), batcher.submit([3, 4]), batcher.submit([5, 6, 7, 8])]);
    expect(batches).toEqual([[1, 2], [3, 4], [5, 6, 7, 8]]);
  });

  it('rejects every request of a failed batch and keeps serving afterwards', async () => {
    let fail = true;
    const batcher = new MicroBatcher<number, number>({
      maxSize: 4,
      maxDelayMs: 5,
      run: async (items) => {
        if (fail) throw new Error('model exploded');
        return items;
      },
    });
    const outcomes = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    await expect(batcher.submit([3])).resolves.toEqual({ results: [3], batchSize: 1, ms: expect.any(Number) });
  });

  it('drain runs what is pending at once and waits for it', async () => {
    const { batcher, batches } = recordingBatcher(100, 60_000);
    const pending = batcher.submit([1]);
    await batcher.drain();
    expect(batches).toEqual([[1]]);
    await expect(pending).resolves.toEqual({ results: [10], batchSize: 1, ms: expect.any(Number) });
  });

  it('runs a request at once when its source is idle, without waiting for the delay', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 32, maxDelayMs: 60_000, isIdle: () => true, run: async (items) => (batches.push(items), items) });
    const started = Date.now();
    // Requests submitted in the same turn still share the batch.
    await Promise.all([batcher.submit([1]), batcher.submit([2])]);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(batches).toEqual([[1, 2]]);
  });

  it('flushIdle runs what is pending when the source runs dry, and the delay applies while it is busy', async () => {
    let idle = false;
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 32, maxDelayMs: 60_000, isIdle: () => idle, run: async (items) => (batches.push(items), items) });
    const first = batcher.submit([1]);
    const second = batcher.submit([2]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(batches).toEqual([]);
    idle = true;
    batcher.flushIdle();
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);
  });
  describe('a withdrawn request (its signal aborts before its batch runs)', () => {
    it('leaves the pending batch at once, rejected with the reason, and never runs; the others still do', async () => {
      const { batcher, batches } = recordingBatcher(8, 60_000);
      const withdrawn = new AbortController();
      const kept = batcher.submit([1]);
      const dropped = batcher.submit([2, 3], withdrawn.signal);
      const reason = new Error('canceled at client request');
      const started = Date.now();
      withdrawn.abort(reason);
      await expect(dropped).rejects.toBe(reason);
      expect(Date.now() - started).toBeLessThan(1000);
      await batcher.drain();
      expect(batches).toEqual([[1]]);
      await expect(kept).resolves.toEqual({ results: [10], batchSize: 1, ms: expect.any(Number) });
    });

    it('the last one withdrawn leaves nothing pending: no batch runs when the delay ends', async () => {
      const { batcher, batches } = recordingBatcher(8, 20);
      const withdrawn = new AbortController();
      const dropped = batcher.submit([1], withdrawn.signal);
      withdrawn.abort(new Error('deadline passed'));
      await expect(dropped).rejects.toThrow('deadline passed');
      await new Promise((r) => setTimeout(r, 60));
      expect(batches).toEqual([]);
      // A later request makes a batch of its own size.
      await expect(batcher.submit([4, 5])).resolves.toEqual({ results: [40, 50], batchSize: 2, ms: expect.any(Number) });
    });

    it('an already aborted signal is refused without joining a batch', async () => {
      const { batcher, batches } = recordingBatcher(1, 0);
      await expect(batcher.submit([1], AbortSignal.abort(new Error('too late')))).rejects.toThrow('too late');
      expect(batches).toEqual([]);
    });

    it('an abort after its batch ran changes nothing', async () => {
      const { batcher } = recordingBatcher(1, 0);
      const late = new AbortController();
      const result = await batcher.submit([7], late.signal);
      late.abort(new Error('too late'));
      expect(result).toEqual({ results: [70], batchSize: 1, ms: expect.any(Number) });
    });
  });
});
