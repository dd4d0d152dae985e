/**
 * SIGTERM to the API process with Redis gone (killed by the test): it does
 * not wait on Redis, and it exits by SHUTDOWN_TIMEOUT_MS even with a request
 * that never completes, saying what it abandoned.
 */
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { parsedLines, startApiProcess, untilConnected, type ApiProcess } from '../test/api-process.ts';

const SHUTDOWN_TIMEOUT_MS = 3000;
/** Beyond the deadline: process exit and a busy 2-core machine. */
const EXIT_MARGIN_MS = 1500;

let redis: RunningRedis | undefined;
let api: ApiProcess | undefined;

afterEach(async () => {
  await api?.stop();
  await redis?.stop();
});

async function startStack(): Promise<void> {
  redis = await startRedisServer();
  api = await startApiProcess({
    REDIS_URL: redis.url,
    QUEUE_PREFIX: `shutdown-${randomUUID().slice(0, 8)}`,
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    MODELS_DIR: mkdtempSync(join(tmpdir(), 'digitq-api-shutdown-models-')),
  });
  await untilConnected(api);
}

async function killRedis(): Promise<void> {
  const exited = new Promise((resolve) => redis!.process.once('exit', resolve));
  redis!.process.kill('SIGKILL');
  await exited;
}

async function terminate(): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  api!.child.kill('SIGTERM');
  const { code } = await api!.exited;
  return { code, ms: Date.now() - started };
}

describe('SIGTERM with Redis unreachable', () => {
  it('exits well before the deadline, cutting the Redis connections instead of waiting on them', async () => {
    await startStack();
    await killRedis();
    const { code, ms } = await terminate();
    expect(code).toBe(0);
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    const messages = parsedLines(api!.lines).map((l) => l.msg);
    expect(messages).toContain('redis did not answer at shutdown: connections cut without QUIT');
    expect(messages).toContain('shutdown complete');
  });

  it('exits at the deadline with a request still in flight, and says what it abandoned', async () => {
    await startStack();
    // A submit whose body never finishes arriving: the server waits for it, as it should, until the deadline.
    const socket = connect(Number(new URL(api!.baseUrl).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"images":["');
    socket.on('error', () => undefined);
    // Time for the server to take the headers in: from then on the request is in flight.
    await new Promise((r) => setTimeout(r, 500));
    await killRedis();
    const { code, ms } = await terminate();
    socket.destroy();
    expect(code).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 100);
    expect(ms).toBeLessThan(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);
    const deadline = parsedLines(api!.lines).find((l) => String(l.msg).startsWith('shutdown did not finish within'));
    expect(deadline).toMatchObject({
      level: 50,
      timeout_ms: SHUTDOWN_TIMEOUT_MS,
      abandoned: { steps: ['finish requests in flight'], requests_in_flight: 1 },
    });
  });
});
