/**
 * Lets many HTTP requests wait for their jobs on one QueueEvents stream: one
 * listener pair for the process, a map from job id to waiting callbacks.
 * A completion arrives with the job's result in it, so a caller that only
 * needs the result (POST /predict) has it without reading the job back.
 */
import type { QueueEvents } from 'bullmq';

/** How a job ended, as its finishing event told it; null when woken otherwise (a cancel, a read that found it done). */
export type JobOutcome = { status: 'completed'; returnvalue: unknown } | { status: 'failed'; failedReason: string } | null;

type Wake = (outcome: JobOutcome) => void;

export class JobWaiter {
  private readonly waiting = new Map<string, Set<Wake>>();

  constructor(events: QueueEvents) {
    events.on('completed', ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => this.wake(jobId, { status: 'completed', returnvalue }));
    events.on('failed', ({ jobId, failedReason }: { jobId: string; failedReason: string }) => this.wake(jobId, { status: 'failed', failedReason }));
  }

  wake(jobId: string, outcome: JobOutcome = null): void {
    const callbacks = this.waiting.get(jobId);
    if (!callbacks) return;
    this.waiting.delete(jobId);
    for (const callback of callbacks) callback(outcome);
  }

  /**
   * Resolves true when the job finishes, false after `timeoutMs`. Register
   * before reading the job's state, then call `isDone` to close the race.
   */
  async wait(jobId: string, timeoutMs: number, isDone: () => Promise<boolean>): Promise<boolean> {
    const waiting = this.register(jobId, timeoutMs);
    isDone().then(
      (done) => done && waiting.settle(null),
      () => undefined,
    );
    return (await waiting.outcome) !== undefined;
  }

  /**
   * Starts waiting for a job that does not exist yet (its id chosen before it
   * is added), so no finishing event can come before the waiter: the caller
   * adds the job, then awaits `outcome`. It resolves with the event's outcome,
   * null when woken without one, undefined after `timeoutMs` (or `cancel()`).
   */
  register(jobId: string, timeoutMs: number): { outcome: Promise<JobOutcome | undefined>; settle: (outcome: JobOutcome | undefined) => void; cancel: () => void } {
    let settle!: (outcome: JobOutcome | undefined) => void;
    const outcome = new Promise<JobOutcome | undefined>((resolve) => {
      let settled = false;
      const finish = (value: JobOutcome | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const callbacks = this.waiting.get(jobId);
        callbacks?.delete(onWake);
        if (callbacks?.size === 0) this.waiting.delete(jobId);
        resolve(value);
      };
      const onWake: Wake = (value) => finish(value);
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const callbacks = this.waiting.get(jobId) ?? new Set<Wake>();
      callbacks.add(onWake);
      this.waiting.set(jobId, callbacks);
      settle = finish;
    });
    return { outcome, settle, cancel: () => settle(undefined) };
  }

  get size(): number {
    return this.waiting.size;
  }
}
