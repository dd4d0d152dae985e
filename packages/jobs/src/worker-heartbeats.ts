/**
 * Worker heartbeats in Redis. Each worker process writes
 * `<prefix>:workers:<id>` = its WorkerHeartbeat as JSON, with a TTL, every
 * WORKER_HEARTBEAT_INTERVAL_MS; a sorted set `<prefix>:workers` (member: id,
 * score: last write in ms) lets readers find them without SCAN (which a
 * Redis Cluster would answer per node). A worker that dies simply stops
 * writing: its key expires and readers drop its index entry.
 */
import type { Redis } from 'ioredis';
import { modelVariantSchema, workerHeartbeatSchema, type ModelInfo, type WorkerHeartbeat } from '@digitq/contracts';

/** How often a worker writes its heartbeat. */
export const WORKER_HEARTBEAT_INTERVAL_MS = 5_000;
/** How long a heartbeat counts: three missed writes and the worker is gone. */
export const WORKER_HEARTBEAT_TTL_MS = 15_000;

/** `name@version` or `name@version:variant` (as model stores key their models) -> {name, version, variant?}. */
export function modelInfoFromKey(key: string): ModelInfo {
  const at = key.lastIndexOf('@');
  if (at === -1) return { name: key, version: '' };
  const [version, variant] = key.slice(at + 1).split(':') as [string, string | undefined];
  const parsed = modelVariantSchema.safeParse(variant);
  return { name: key.slice(0, at), version, ...(parsed.success ? { variant: parsed.data } : {}) };
}

function indexKey(prefix: string): string {
  return `${prefix}:workers`;
}

function heartbeatKey(prefix: string, id: string): string {
  return `${prefix}:workers:${id}`;
}

/** Writes one heartbeat (and its index entry), valid for `ttlMs`. */
export async function publishWorkerHeartbeat(redis: Redis, prefix: string, heartbeat: WorkerHeartbeat, ttlMs = WORKER_HEARTBEAT_TTL_MS): Promise<void> {
  const now = Date.now();
  await redis
    .multi()
    .set(heartbeatKey(prefix, heartbeat.id), JSON.stringify(heartbeat), 'PX', ttlMs)
    .zadd(indexKey(prefix), now, heartbeat.id)
    .zremrangebyscore(indexKey(prefix), '-inf', now - ttlMs)
    .pexpire(indexKey(prefix), ttlMs)
    .exec();
}

/** Removes a worker's heartbeat at once (clean shutdown), so readiness does not count it for another TTL. */
export async function removeWorkerHeartbeat(redis: Redis, prefix: string, id: string): Promise<void> {
  await redis.multi().del(heartbeatKey(prefix, id)).zrem(indexKey(prefix), id).exec();
}

/** Heartbeats written within the last `ttlMs`, by worker id. Malformed entries are skipped. */
export async function listLiveWorkers(redis: Redis, prefix: string, ttlMs = WORKER_HEARTBEAT_TTL_MS): Promise<WorkerHeartbeat[]> {
  const ids = await redis.zrangebyscore(indexKey(prefix), Date.now() - ttlMs, '+inf');
  if (ids.length === 0) return [];
  // One GET per key in a pipeline rather than MGET: keys may sit in different Cluster slots without a hash-tagged prefix.
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.get(heartbeatKey(prefix, id));
  const replies = (await pipeline.exec()) ?? [];
  return replies
    .flatMap(([, raw]) => {
      if (typeof raw !== 'string') return [];
      try {
        const parsed = workerHeartbeatSchema.safeParse(JSON.parse(raw));
        return parsed.success ? [parsed.data] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

export interface WorkerHeartbeatLoopOptions {
  redis: Redis;
  prefix: string;
  /** The heartbeat to write now: called before every write, so the loaded models stay current. */
  read: () => WorkerHeartbeat | Promise<WorkerHeartbeat>;
  /** A failed write (Redis away): the loop keeps going; the next write may succeed. */
  onError: (error: unknown) => void;
  intervalMs?: number;
  ttlMs?: number;
}

export interface WorkerHeartbeatLoop {
  /** Stops writing and removes the heartbeat. */
  stop(): Promise<void>;
}

/** Writes a heartbeat at once and every `intervalMs` until stop(). Never throws; failures go to onError. */
export function startWorkerHeartbeat(options: WorkerHeartbeatLoopOptions): WorkerHeartbeatLoop {
  const { redis, prefix, intervalMs = WORKER_HEARTBEAT_INTERVAL_MS, ttlMs = WORKER_HEARTBEAT_TTL_MS } = options;
  let lastId: string | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  let stopped = false;
  const beat = () => {
    inFlight = (async () => {
      const heartbeat = await options.read();
      lastId = heartbeat.id;
      if (!stopped) await publishWorkerHeartbeat(redis, prefix, heartbeat, ttlMs);
    })().catch(options.onError);
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      if (lastId !== null) await removeWorkerHeartbeat(redis, prefix, lastId).catch(options.onError);
    },
  };
}
