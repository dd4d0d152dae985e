/**
 * Cancellation across machines: the API records a request in Redis and
 * workers check it at their safe points (before a batch runs, between
 * training batches). A plain key per job works the same on one Redis or a
 * Cluster (the key carries the queue prefix's hash tag).
 */
import type { Redis } from 'ioredis';

export class CancelRequests {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly queue: string,
    private readonly ttlS: number,
  ) {}

  private key(jobId: string): string {
    return `${this.prefix}:${this.queue}:cancel:${jobId}`;
  }

  async request(jobId: string, at = new Date()): Promise<void> {
    await this.redis.set(this.key(jobId), at.toISOString(), 'EX', this.ttlS);
  }

  /** When the cancel was requested, or null. */
  async requestedAt(jobId: string): Promise<string | null> {
    return this.redis.get(this.key(jobId));
  }

  /** The subset of `jobIds` with a pending cancel request, in one round trip. */
  async filterRequested(jobIds: readonly string[]): Promise<Set<string>> {
    if (jobIds.length === 0) return new Set();
    // One GET per key in a pipeline rather than MGET: keys of different jobs may sit in different Cluster slots.
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.get(this.key(id));
    const results = (await pipeline.exec()) ?? [];
    return new Set(jobIds.filter((_, i) => results[i]?.[1] != null));
  }
}
