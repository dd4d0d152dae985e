import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * Where Redis is: one server at `url`, or, with `clusterNodes` (REDIS_CLUSTER_NODES), a Redis Cluster reached
 * through those seed nodes; then `url` only lends its username, password and scheme (rediss: = TLS) to every node.
 * A bare string is a single server's URL.
 */
export type RedisTarget = string | { url: string; clusterNodes?: readonly string[] | undefined };

/** Pause between attempts to reach the cluster again after every node was lost. */
const CLUSTER_RETRY_MAX_MS = 2000;

/**
 * Lets a cluster client be duplicated as a Redis client is: `duplicate(redisOptions)` (what callers holding a
 * "Redis" do, e.g. the API's event streams for their blocking reads) becomes Cluster.duplicate with those options
 * applied to every node, and the offline queue setting to the cluster. Cluster's own form, `duplicate(nodes?,
 * clusterOptions?)` (BullMQ's), passes through.
 */
function duplicatesAsRedis(cluster: Cluster): Cluster {
  const duplicate = cluster.duplicate.bind(cluster);
  cluster.duplicate = ((first?: ClusterNode[] | RedisOptions, second?: ClusterOptions) => {
    if (first === undefined || Array.isArray(first)) return duplicatesAsRedis(duplicate(first, second));
    const { enableOfflineQueue, ...perNode } = first;
    return duplicatesAsRedis(
      duplicate([], {
        ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
        redisOptions: { ...cluster.options.redisOptions, ...perNode },
      }),
    );
  }) as Cluster['duplicate'];
  return cluster;
}

function clusterClient(url: string, nodes: readonly string[], redisOptions: RedisOptions, clusterOptions: ClusterOptions = {}): Redis {
  const parsed = new URL(url);
  const cluster = new Cluster(
    nodes.map((node) => {
      const at = node.lastIndexOf(':');
      return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
    }),
    {
      enableReadyCheck: true,
      clusterRetryStrategy: (times) => Math.min(100 * times, CLUSTER_RETRY_MAX_MS),
      ...clusterOptions,
      redisOptions: {
        ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
        ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
        ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
        ...redisOptions,
      },
    },
  );
  // A Cluster answers the same commands as a Redis client (the callers, BullMQ included, send commands, listen for
  // events, duplicate and quit), and BullMQ recognises it by `isCluster`; typed as Redis so every caller keeps one type.
  return duplicatesAsRedis(cluster) as unknown as Redis;
}

const targetOf = (target: RedisTarget) => (typeof target === 'string' ? { url: target, clusterNodes: undefined } : target);

/**
 * An ioredis client as BullMQ wants it for Workers and QueueEvents:
 * `maxRetriesPerRequest: null` so blocking commands wait out a Redis restart
 * (or a cluster failover) instead of failing jobs.
 */
export function createRedisConnection(target: RedisTarget, options: RedisOptions = {}): Redis {
  const { url, clusterNodes } = targetOf(target);
  const redisOptions: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true, ...options };
  if (clusterNodes !== undefined && clusterNodes.length > 0) return clusterClient(url, clusterNodes, redisOptions);
  return new Redis(url, redisOptions);
}

export interface CommandConnectionOptions {
  /** REDIS_COMMAND_TIMEOUT_MS: a command without an answer by then is rejected. */
  commandTimeoutMs: number;
  connectionName?: string;
}

/**
 * A client for commands a request waits on (the API's submits, reads,
 * idempotency keys; BullMQ Queues as producers, which BullMQ's "failing fast
 * when Redis is down" recommends), that fails fast and never runs a command
 * later than the caller was told it failed:
 *
 * - `enableOfflineQueue: false`: while disconnected a command is rejected at
 *   once instead of being queued and sent after the reconnect;
 * - `autoResendUnfulfilledCommands: false`: commands in flight when the
 *   connection dropped are not sent again after the reconnect;
 * - `maxRetriesPerRequest: 0`: they are rejected as soon as it drops;
 * - `commandTimeout`: a connected but unresponsive Redis rejects after
 *   `commandTimeoutMs`. Such a command was sent, so Redis may still run it:
 *   that answer is ambiguous, which Idempotency-Key covers for submits.
 *
 * On a cluster the same holds per node and for the cluster client itself
 * (no offline queue while it finds the new master after a failover: those
 * requests are answered 503 and retried by clients).
 *
 * Not for blocking commands (QueueEvents' XREAD, Workers): they outlast the
 * command timeout by design; they use createRedisConnection.
 */
export function createCommandConnection(target: RedisTarget, options: CommandConnectionOptions): Redis {
  const { url, clusterNodes } = targetOf(target);
  const redisOptions: RedisOptions = {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs,
    enableReadyCheck: true,
    // Commands issued in the same tick by concurrent requests go out in one write (one syscall, one Redis read):
    // under load the API sends many small commands at once.
    enableAutoPipelining: true,
    ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  };
  if (clusterNodes !== undefined && clusterNodes.length > 0) {
    return clusterClient(url, clusterNodes, redisOptions, { enableOfflineQueue: false });
  }
  return new Redis(url, redisOptions);
}
