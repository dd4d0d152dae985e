/**
 * Lets many HTTP requests wait for their jobs on one QueueEvents stream: one
 * listener pair for the process, a map from job id to waiting callbacks.
 */
import type { QueueEvents } from 'bullmq';

export class JobWaiter {
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(events: QueueEvents) {
    const wake = ({ jobId }: { jobId: string }) => this.wake(jobId);
    events.on('completed', wake);
    events.on('failed', wake);
  }

  wake(jobId: string): void {
    const callbacks = this.waiting.get(jobId);
    if (!callbacks) return;
    this.waiting.delete(jobId);
    for (const callback of callbacks) callback();
  }

  /**
   * Resolves true when the job finishes, false after `timeoutMs`. Register
   * before reading the job's state, then call `isDone` to close the race.
   */
  wait(jobId: string, timeoutMs: number, isDone: () => Promise<boolean>): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (value: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const callbacks = this.waiting.get(jobId);
        callbacks?.delete(onWake);
        if (callbacks?.size === 0) this.waiting.delete(jobId);
        resolve(value);
      };
      const onWake = () => finish(true);
      const timer = setTimeout(() => finish(false), timeoutMs);
      const callbacks = this.waiting.get(jobId) ?? new Set();
      callbacks.add(onWake);
      this.waiting.set(jobId, callbacks);
      isDone().then(
        (done) => done && finish(true),
        () => undefined,
      );
    });
  }

  get size(): number {
    return this.waiting.size;
  }
}
