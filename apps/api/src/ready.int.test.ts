/** GET /readyz: Redis reachable and a worker with a loaded model heard from recently. */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import type { NotReadyResponse, WorkerHeartbeat } from '@digitq/contracts';
import { publishWorkerHeartbeat, removeWorkerHeartbeat } from '@digitq/jobs';
import { startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { createTestStack, type TestStack } from '../test/api-stack.ts';

const WAIT_TIMEOUT_MS = 15_000;
const WAIT_INTERVAL_MS = 100;

function heartbeat(overrides: Partial<WorkerHeartbeat> = {}): WorkerHeartbeat {
  const now = new Date().toISOString();
  return {
    id: 'test-host-1234-cpu',
    hostname: 'test-host',
    pid: 1234,
    device: 'cpu',
    backend: 'cpu',
    queues: ['inference'],
    models: [{ name: 'digitnet', version: 'v3' }],
    started_at: now,
    at: now,
    ...overrides,
  };
}

async function readyStatus(stack: TestStack): Promise<number> {
  return (await request(stack.app).get('/readyz')).status;
}

async function waitForStatus(stack: TestStack, status: number): Promise<void> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  while ((await readyStatus(stack)) !== status) {
    if (Date.now() > deadline) throw new Error(`/readyz did not become ${status} within ${WAIT_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, WAIT_INTERVAL_MS));
  }
}

let stack: TestStack | undefined;
let redisServer: RunningRedis | undefined;
afterEach(async () => {
  await stack?.close();
  await redisServer?.stop();
  stack = undefined;
  redisServer = undefined;
});

describe('GET /readyz', () => {
  it('is 503 naming the reason while no worker heartbeat exists, 200 once one does, 503 again when it is gone', async () => {
    stack = await createTestStack();
    const none = await request(stack.app).get('/readyz');
    expect(none.status).toBe(503);
    expect(none.headers['cache-control']).toBe('no-store');
    expect((none.body as NotReadyResponse).status).toBe('unavailable');
    expect((none.body as NotReadyResponse).reasons).toEqual([expect.stringMatching(/^workers: no worker with a loaded model/)]);

    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat());
    const ready = await request(stack.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });

    await removeWorkerHeartbeat(stack.redis, stack.prefix, heartbeat().id);
    expect(await readyStatus(stack)).toBe(503);
  });

  it('does not count workers without a loaded model, or that do not consume the inference queue, or whose heartbeat expired', async () => {
    stack = await createTestStack();
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat({ id: 'loading', models: [] }));
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat({ id: 'webhooks-only', queues: ['webhooks'] }));
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat({ id: 'short-lived' }), 50);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await readyStatus(stack)).toBe(503);
  });

  it('flips to 503 when Redis stops and back to 200 when it returns', async () => {
    redisServer = await startRedisServer();
    stack = await createTestStack({}, { redisUrl: redisServer.url });
    // ioredis reports the lost connection as 'error' events while it reconnects; the test expects them.
    stack.redis.on('error', () => undefined);
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat());
    expect(await readyStatus(stack)).toBe(200);

    const { port } = redisServer;
    await redisServer.stop();
    redisServer = undefined;
    const down = await request(stack.app).get('/readyz');
    expect(down.status).toBe(503);
    expect((down.body as NotReadyResponse).reasons[0]).toMatch(/^redis: /);
    expect(await readyStatus(stack)).toBe(503);

    // A fresh, empty server on the same port: ready again once reconnected and a worker has reported.
    redisServer = await startRedisServer({ port });
    await stack.redis.ping();
    const empty = await request(stack.app).get('/readyz');
    expect(empty.status).toBe(503);
    expect((empty.body as NotReadyResponse).reasons).toEqual([expect.stringMatching(/^workers: /)]);
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat());
    await waitForStatus(stack, 200);
  });
});
