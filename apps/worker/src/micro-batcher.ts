/**
 * Dynamic micro-batching: requests arriving within `maxDelayMs` of the first
 * pending one share a forward pass, up to `maxSize` items. A request's items
 * stay together; one larger than `maxSize` runs as its own batch.
 *
 * The delay is only worth paying while more work is arriving. When the
 * source reports that nothing more is queued (`isIdle`, or a call to
 * `flushIdle` when it runs dry), what is pending runs at once: a lone request
 * is never held back by the delay, and under load batches still fill.
 *
 * A request may be withdrawn while it waits (its `signal` aborts: a cancel,
 * a deadline): it leaves the pending batch and is rejected with the signal's
 * reason, so it never runs. Once its batch runs it is past withdrawing.
 *
 * The batcher knows nothing of BullMQ or tfjs: `run` is injected, so the
 * policy is unit-tested with plain functions.
 *
 * Tracing: a batch serves many jobs, each with its own trace, so a batch gets
 * one span (`micro-batch`) that is a child of its first request's span (it
 * shows in that trace) and links to every request's span; every request's
 * span gets a `micro-batch` event naming it (see inSharedSpan). A span per
 * job per batch would repeat the same forward pass in every trace.
 */
import { context, type Attributes, type Context } from '@opentelemetry/api';
import { inSharedSpan } from '@digitq/service';

/** The name of a batch's span and of the event on each of its requests' spans. */
export const BATCH_SPAN_NAME = 'micro-batch';

export interface MicroBatcherOptions<TItem, TResult> {
  maxSize: number;
  maxDelayMs: number;
  run: (items: TItem[]) => Promise<TResult[]>;
  /** Called after every batch with its size (metrics). */
  onBatch?: (size: number, requests: number) => void;
  /** True while the source has no more requests queued; requests submitted then run on the next turn of the event loop. */
  isIdle?: () => boolean;
  /** On each batch's span, with its size: what runs it (model, version). */
  spanAttributes?: Attributes;
}

/** A request's share of its batch. */
export interface BatchResult<TResult> {
  results: TResult[];
  /** Items in the batch that produced them. */
  batchSize: number;
  /** How long the batch's `run` took, ms (shared by every request in it). */
  ms: number;
}

interface Pending<TItem, TResult> {
  items: TItem[];
  resolve: (result: BatchResult<TResult>) => void;
  reject: (error: unknown) => void;
  /** Stops listening to the request's signal once it left the pending batch. */
  release: () => void;
  /** The trace context the request was submitted in (its job's span). */
  context: Context;
}

export class MicroBatcher<TItem, TResult> {
  private pending: Pending<TItem, TResult>[] = [];
  private pendingItems = 0;
  private timer: NodeJS.Timeout | null = null;
  private idleFlush: NodeJS.Immediate | null = null;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly options: MicroBatcherOptions<TItem, TResult>) {
    if (options.maxSize < 1) throw new RangeError('maxSize must be at least 1');
  }

  /**
   * Resolves with this request's results and the size of the batch that
   * produced them; rejects with `signal.reason` when `signal` aborts before
   * its batch runs.
   */
  submit(items: TItem[], signal?: AbortSignal): Promise<BatchResult<TResult>> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.pendingItems > 0 && this.pendingItems + items.length > this.options.maxSize) this.flush();
      const request: Pending<TItem, TResult> = { items, resolve, reject, release: () => undefined, context: context.active() };
      if (signal) {
        const withdraw = () => this.withdraw(request, signal.reason);
        signal.addEventListener('abort', withdraw, { once: true });
        request.release = () => signal.removeEventListener('abort', withdraw);
      }
      this.pending.push(request);
      this.pendingItems += items.length;
      if (this.pendingItems >= this.options.maxSize || this.options.maxDelayMs === 0) this.flush();
      else if (this.options.isIdle?.()) this.flushIdle();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.options.maxDelayMs);
    });
  }

  /** Takes a request out of the pending batch (still there: not yet run) and rejects it. */
  private withdraw(request: Pending<TItem, TResult>, reason: unknown): void {
    const index = this.pending.indexOf(request);
    if (index === -1) return;
    this.pending.splice(index, 1);
    this.pendingItems -= request.items.length;
    request.release();
    if (this.pending.length === 0) this.cancelTimers();
    request.reject(reason);
  }

  private cancelTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.idleFlush) clearImmediate(this.idleFlush);
    this.idleFlush = null;
  }

  /**
   * The source ran dry: run what is pending on the next turn of the event
   * loop (requests submitted in this turn still join it), not after the delay.
   */
  flushIdle(): void {
    if (this.pendingItems === 0 || this.idleFlush) return;
    this.idleFlush = setImmediate(() => {
      this.idleFlush = null;
      this.flush();
    });
  }

  private flush(): void {
    this.cancelTimers();
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    this.pendingItems = 0;
    for (const p of batch) p.release();
    const run = this.runBatch(batch);
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }

  private async runBatch(batch: Pending<TItem, TResult>[]): Promise<void> {
    const items = batch.flatMap((p) => p.items);
    try {
      const attributes = { ...this.options.spanAttributes, 'digitq.batch.images': items.length, 'digitq.batch.requests': batch.length };
      const started = performance.now();
      const results = await inSharedSpan(BATCH_SPAN_NAME, batch.map((p) => p.context), attributes, () => this.options.run(items));
      const ms = performance.now() - started;
      if (results.length !== items.length) throw new Error(`batch runner returned ${results.length} results for ${items.length} items`);
      this.options.onBatch?.(items.length, batch.length);
      let offset = 0;
      for (const p of batch) {
        p.resolve({ results: results.slice(offset, offset + p.items.length), batchSize: items.length, ms });
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
