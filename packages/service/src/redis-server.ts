/**
 * Starts a real redis-server (Debian's) on loopback: for `npm start` when no
 * Redis answers at REDIS_URL (with append-only persistence in a data dir),
 * and for tests (a free port and a temp dir).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RunningRedis {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // Refused connections are expected until the server is up; the loop reports the final failure.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms`, { cause: error });
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
}

export interface StartRedisOptions {
  port?: number;
  /** Data directory; a fresh temp dir (removed on stop) when omitted. */
  dir?: string;
  /** Append-only persistence, for a Redis that must keep accepted jobs across restarts. */
  appendOnly?: boolean;
  /** When the append-only file is flushed to disk: Redis's default `everysec`, or `always` (a test that kills Redis keeps every write). */
  appendFsync?: 'always' | 'everysec';
  binary?: string;
  /**
   * Its own process group, so a terminal's Ctrl-C reaches only its starter, which stops it after everything
   * that uses it has drained (npm start). Default false: a test's server goes down with the test run.
   */
  detached?: boolean;
}

export async function startRedisServer(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const port = options.port ?? (await freePort());
  const ownDir = !options.dir;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'digitq-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', options.appendOnly ? 'yes' : 'no', '--appendfsync', options.appendFsync ?? 'everysec'];
  const child = spawn(options.binary ?? 'redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: options.detached ?? false });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error) =>
      reject(
        new Error(
          `could not start redis-server (${(error as NodeJS.ErrnoException).code}); install it with \`sudo apt-get install -y redis-server\` or run scripts/setup.sh`,
          { cause: error },
        ),
      ),
    ),
  );
  const url = `redis://127.0.0.1:${port}`;
  await Promise.race([waitForRedis(url), spawnError]);
  return {
    url,
    port,
    dir,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
