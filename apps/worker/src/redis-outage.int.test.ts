/**
 * A worker process (consuming the webhooks queue: no model to load) through
 * Redis outages, against a redis-server of the test's own: each outage is
 * logged once however many connections retry how often, its end once with a
 * count, and SIGTERM while Redis is down exits without waiting on it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startRedisServer, type RunningRedis } from '@digitq/test-utils';

const REPO_ROOT = resolve(import.meta.dirname, '../../..');
const SHUTDOWN_TIMEOUT_MS = 5000;
const OUTAGE_MS = 2000;

let redis: RunningRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});

async function until(condition: () => boolean, timeoutMs: number, what: string, lines: string[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; last lines:\n${lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function killRedis(): Promise<void> {
  const exited = new Promise((r) => redis!.process.once('exit', r));
  redis!.process.kill('SIGKILL');
  await exited;
}

const messages = (lines: string[]) =>
  lines.flatMap((line) => {
    try {
      return [String((JSON.parse(line) as { msg: unknown }).msg)];
    } catch {
      return [];
    }
  });

describe('a worker while Redis comes and goes', () => {
  it('logs each outage once and its end once, then exits on SIGTERM without waiting on a dead Redis', async () => {
    const port = await freePort();
    redis = await startRedisServer({ port });
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts', '--queues', 'webhooks'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: redis.url,
        QUEUE_PREFIX: `worker-outage-${randomUUID().slice(0, 8)}`,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => lines.push(line));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until(() => messages(lines).includes('worker consuming'), 60_000, 'start', lines);
      const count = (prefix: string) => messages(lines).filter((m) => m.startsWith(prefix)).length;

      await killRedis();
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      redis = await startRedisServer({ port });
      await until(() => count('redis connection restored after') === 1, 10_000, 'restored line', lines);
      expect(count('redis connection lost')).toBe(1);
      const restored = JSON.parse(lines.find((l) => l.includes('redis connection restored after'))!) as { failed_attempts: number; down_s: number };
      expect(restored.failed_attempts).toBeGreaterThan(1);
      expect(restored.down_s).toBeGreaterThanOrEqual(OUTAGE_MS / 1000 - 0.5);

      await killRedis();
      await until(() => count('redis connection lost') === 2, 5000, 'second lost line', lines);
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      expect(Date.now() - started).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      expect(code).toBe(0);
      expect(messages(lines)).toContain('redis is unreachable: not waiting for active jobs, which will be retried');
      // Retry attempts, several a second on each connection, wrote no line of their own.
      expect(messages(lines).filter((m) => m.includes('error'))).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
