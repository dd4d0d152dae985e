/**
 * Uses the Redis at REDIS_URL when one answers; otherwise, for a loopback
 * URL, starts Debian's redis-server on that port with append-only
 * persistence in REDIS_DATA_DIR, so jobs accepted before a restart survive it.
 * With REDIS_CLUSTER_NODES it starts nothing.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startRedisServer, waitForRedis, type RunningRedis } from '@digitq/service';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const PROBE_TIMEOUT_MS = 1500;

/**
 * redis-server cannot notice that the process that started it died; this
 * one-line node process notices for it. It holds an IPC channel to the
 * launcher, which the kernel closes when the launcher dies, even by SIGKILL,
 * and then sends redis-server (pid in argv) SIGTERM, on which Redis writes
 * its append-only file and exits.
 */
export const STOP_REDIS_WHEN_PARENT_DIES = `process.on('disconnect', () => { try { process.kill(Number(process.argv[1]), 'SIGTERM'); } catch {} process.exit(0); });`;

export interface EnsuredRedis {
  url: string;
  /** Present when this process started the server (and must stop it). */
  own: RunningRedis | null;
}

/** Why this launcher must not start a server for `url` itself, or null when it may (plain loopback URL). */
export function reasonNotToStart(url: string): string | null {
  const parsed = new URL(url);
  if (!LOOPBACK_HOSTS.has(parsed.hostname)) return `no Redis answers at ${url}; start it, or point REDIS_URL at one that runs`;
  if (parsed.password || parsed.username || (parsed.pathname && parsed.pathname !== '/' && parsed.pathname !== '/0')) {
    return `no Redis answers at ${url}, and it names credentials or a database this launcher would not configure; start that Redis yourself`;
  }
  return null;
}

export async function ensureRedis(url: string, dataDir: string, clusterNodes?: readonly string[]): Promise<EnsuredRedis> {
  // A Redis Cluster is never this launcher's to start: its processes connect to the nodes named, and say so in
  // their own logs while the cluster is unreachable.
  if (clusterNodes !== undefined && clusterNodes.length > 0) return { url, own: null };
  try {
    await waitForRedis(url, PROBE_TIMEOUT_MS);
    return { url, own: null };
  } catch {
    const refusal = reasonNotToStart(url);
    if (refusal) throw new Error(refusal);
    const parsed = new URL(url);
    const dir = resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    const port = Number(parsed.port || 6379);
    const started = await startRedisServer({ port, dir, appendOnly: true, detached: true });
    const watcher = spawn(process.execPath, ['-e', STOP_REDIS_WHEN_PARENT_DIES, String(started.process.pid)], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      detached: true,
    });
    watcher.unref();
    watcher.channel?.unref();
    // Stopped first on a normal stop: its SIGTERM must never reach a pid reused after Redis exited.
    const own: RunningRedis = {
      ...started,
      async stop() {
        watcher.kill('SIGKILL');
        await started.stop();
      },
    };
    return { url: own.url, own };
  }
}
