/**
 * Dynamic micro-batching: requests arriving within `maxDelayMs` of the first
 * pending one share a forward pass, up to `maxSize` items. A request's items
 * stay together; one larger than `maxSize` runs as its own batch.
 *
 * The batcher knows nothing of BullMQ or tfjs: `run` is injected, so the
 * policy is unit-tested with plain functions.
 */
export interface MicroBatcherOptions<TItem, TResult> {
  maxSize: number;
  maxDelayMs: number;
  run: (items: TItem[]) => Promise<TResult[]>;
  /** Called after every batch with its size (metrics). */
  onBatch?: (size: number, requests: number) => void;
}

interface Pending<TItem, TResult> {
  items: TItem[];
  resolve: (result: { results: TResult[]; batchSize: number }) => void;
  reject: (error: unknown) => void;
}

export class MicroBatcher<TItem, TResult> {
  private pending: Pending<TItem, TResult>[] = [];
  private pendingItems = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly options: MicroBatcherOptions<TItem, TResult>) {
    if (options.maxSize < 1) throw new RangeError('maxSize must be at least 1');
  }

  /** Resolves with this request's results and the size of the batch that produced them. */
  submit(items: TItem[]): Promise<{ results: TResult[]; batchSize: number }> {
    return new Promise((resolve, reject) => {
      if (this.pendingItems > 0 && this.pendingItems + items.length > this.options.maxSize) this.flush();
      this.pending.push({ items, resolve, reject });
      this.pendingItems += items.length;
      if (this.pendingItems >= this.options.maxSize || this.options.maxDelayMs === 0) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingItems = 0;
    const run = this.runBatch(batch);
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async runBatch(batch: Pending<TItem, TResult>[]): Promise<void> {
    const items = batch.flatMap((p) => p.items);
    try {
      const results = await this.options.run(items);
      if (results.length !== items.length) throw new Error(`batch runner returned ${results.length} results for ${items.length} items`);
      this.options.onBatch?.(items.length, batch.length);
      let offset = 0;
      for (const p of batch) {
        p.resolve({ results: results.slice(offset, offset + p.items.length), batchSize: items.length });
        offset += p.items.length;
      }
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  /** Runs whatever is pending now and waits for every batch in flight (graceful shutdown). */
  async drain(): Promise<void> {
    this.flush();
    await Promise.all([...this.inFlight]);
  }
}
