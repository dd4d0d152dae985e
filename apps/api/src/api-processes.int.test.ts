/**
 * API_PROCESSES=2: the production build as a primary and two API processes
 * sharing one port. Requests are served by both (each request's log line
 * carries the pid of the process that served it), GET /metrics counts the
 * requests of both whichever one answers it, a process that dies is replaced,
 * and SIGTERM to the primary, or the end of its parent, stops every process.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl } from '@digitq/test-utils';
import { parsedLines, startApiProcess, type ApiProcess } from '../test/api-process.ts';

const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const REQUESTS = 8;

const prefix = `processes-${randomUUID().slice(0, 8)}`;
const redis = new Redis(testRedisUrl());
let modelsDir: string;
/** One cluster for the first two tests (the second stops it), another for the last. */
let api: ApiProcess;
let orphan: ApiProcess | undefined;

beforeAll(async () => {
  modelsDir = mkdtempSync(join(tmpdir(), 'digitq-api-processes-models-'));
  api = await start();
}, 60_000);
afterAll(async () => {
  await api?.stop();
  await orphan?.stop();
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  rmSync(modelsDir, { recursive: true, force: true });
});

function start(options: { ipc?: boolean } = {}): Promise<ApiProcess> {
  const env = { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, API_PROCESSES: '2', WEBHOOK_SECRET, MODELS_DIR: modelsDir };
  return startApiProcess(env, options);
}

/** GET on a connection of its own: the primary hands each new connection to the next process in turn. */
function getOnNewConnection(url: string, requestId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, headers: { 'x-request-id': requestId } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject);
  });
}

/** The pids in the primary's "api listening" line: every process, in the order it forked them. */
async function processPids(process: ApiProcess): Promise<number[]> {
  return (JSON.parse(await process.waitForLine(/"api listening"/)) as { pids: number[] }).pids;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Until both processes reach Redis: a few requests in a row, each on its own connection, answer 200. */
async function untilBothConnected(running: ApiProcess): Promise<void> {
  await vi.waitFor(
    async () => {
      for (let i = 0; i < 4; i++) expect(await getOnNewConnection(`${running.baseUrl}/v1/jobs`, `warm-up-${i}`)).toBe(200);
    },
    { timeout: 30_000, interval: 100 },
  );
}

describe('API_PROCESSES=2', () => {
  it('serves requests from two processes on one port and counts all of them in /metrics', async () => {
    const pids = await processPids(api);
    expect(pids).toHaveLength(2);
    await untilBothConnected(api);

    const ids = Array.from({ length: REQUESTS }, (_, i) => `processes-${i}-${randomUUID()}`);
    for (const id of ids) expect(await getOnNewConnection(`${api.baseUrl}/v1/workers`, id)).toBe(200);
    const served = () => parsedLines(api.lines).filter((line) => ids.includes((line.req as { id?: string } | undefined)?.id ?? ''));
    await vi.waitFor(() => expect(served()).toHaveLength(REQUESTS));
    const servedBy = new Set(served().map((line) => line.pid));
    expect([...servedBy].sort()).toEqual([...pids].sort());
    expect(servedBy.has(api.child.pid)).toBe(false);

    // Whichever process answers, it answers for both.
    for (let i = 0; i < 2; i++) {
      const text = await (await fetch(`${api.baseUrl}/metrics`, { headers: { connection: 'close' } })).text();
      expect(text).toContain(`digitq_http_requests_total{method="GET",route="/v1/workers",status="200"} ${REQUESTS}`);
      expect(text).toMatch(/^digitq_redis_up 1$/m);
    }
  });

  it('replaces a process that dies, and SIGTERM to the primary drains and stops every process', async () => {
    const [first, second] = await processPids(api);
    process.kill(first!, 'SIGKILL');
    const crash = JSON.parse(await api.waitForLine(/api process 1 exited unexpectedly/)) as Record<string, unknown>;
    expect(crash).toMatchObject({ level: 40, child_pid: first, signal: 'SIGKILL', restart: 1, delay_ms: 500 });
    const replaced = () => parsedLines(api.lines).filter((line) => line.msg === 'api process listening' && line.pid !== first && line.pid !== second);
    await vi.waitFor(() => expect(replaced()).toHaveLength(1), { timeout: 15_000 });
    const replacement = replaced()[0]!.pid as number;
    await untilBothConnected(api);

    api.child.kill('SIGTERM');
    expect(await api.exited).toEqual({ code: 0, signal: null });
    for (const pid of [second!, replacement]) expect(isRunning(pid)).toBe(false);
    const drained = parsedLines(api.lines).filter((line) => line.msg === 'shutdown complete').map((line) => line.pid);
    expect(drained.sort()).toEqual([api.child.pid, second, replacement].sort());
  });

  it('stops every process when its parent goes, as under npm start', async () => {
    orphan = await start({ ipc: true });
    const pids = await processPids(orphan);
    orphan.child.disconnect();
    expect(await orphan.exited).toEqual({ code: 0, signal: null });
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
  });
});
