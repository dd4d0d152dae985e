/**
 * Uses the Redis at REDIS_URL when one answers; otherwise, for a loopback
 * URL, starts Debian's redis-server on that port with append-only
 * persistence in REDIS_DATA_DIR, so jobs accepted before a restart survive it.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { startRedisServer, waitForRedis, type RunningRedis } from '@digitq/service';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const PROBE_TIMEOUT_MS = 1500;

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

export async function ensureRedis(url: string, dataDir: string): Promise<EnsuredRedis> {
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
    const own = await startRedisServer({ port, dir, appendOnly: true });
    return { url: own.url, own };
  }
}
