/**
 * What the queue promises under faults, through the real API and workers:
 * every accepted job succeeds exactly once, whatever happens to Redis
 * (restarted gracefully, or SIGKILLed with its append-only file) or to the
 * workers (SIGKILLed mid-batch), and a client that retries with the same
 * Idempotency-Key never creates a second job. docs/reliability.md cites
 * these tests.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { startRedisServer, type RunningRedis } from '@digitq/test-utils';
import { System, sleep, type JobBody } from './system.ts';

const RETRY_PAUSE_MS = 100;

/** One client's view of a load run: what it was told was accepted, per Idempotency-Key. */
interface LoadOutcome {
  accepted: Map<string, string>;
  /** Answers that were neither 202 nor a documented retryable failure. */
  unexpected: string[];
  retries: number;
}

/** A careful client gives up on a request it could not get accepted after this long. */
const GIVE_UP_AFTER_MS = 60_000;

/** "The first request with this key is still being processed": ask again shortly (IETF idempotency-key draft). */
function isInProgress(status: number, json: JobBody): boolean {
  return status === 409 && json.error?.code === 'IDEMPOTENCY_CONFLICT' && /still being processed/.test(String(json.error?.message));
}

/**
 * `clients` loops that each submit one image per request, as a careful
 * client does: every logical request has its own Idempotency-Key and is
 * retried with the same key after a 503, a 5xx, a dropped connection or a
 * 409 "still being processed", until it is accepted. Loops start new
 * requests until `until()` says stop and finish the ones they started.
 */
async function runLoad(baseUrl: string, png: Buffer, clients: number, until: () => boolean): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { accepted: new Map(), unexpected: [], retries: 0 };
  const client = async () => {
    while (!until()) {
      const key = randomUUID();
      const giveUpAt = Date.now() + GIVE_UP_AFTER_MS;
      for (;;) {
        if (Date.now() > giveUpAt) {
          outcome.unexpected.push(`key ${key} not accepted within ${GIVE_UP_AFTER_MS} ms`);
          break;
        }
        const body = new FormData();
        body.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'digit.png');
        try {
          const res = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body, headers: { 'Idempotency-Key': key }, signal: AbortSignal.timeout(15_000) });
          const json = (await res.json()) as JobBody;
          if (res.status === 202 || res.status === 200) {
            const earlier = outcome.accepted.get(key);
            if (earlier !== undefined && earlier !== json.id) outcome.unexpected.push(`key ${key} answered with two jobs: ${earlier}, ${json.id}`);
            outcome.accepted.set(key, json.id);
            break;
          }
          if (res.status < 500 && !isInProgress(res.status, json)) {
            outcome.unexpected.push(`${res.status} ${JSON.stringify(json)}`);
            break;
          }
        } catch {
          // Connection refused or reset, or no answer in time: the job may or may not exist; the key decides.
        }
        outcome.retries++;
        await sleep(RETRY_PAUSE_MS);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return outcome;
}

/** Reads the job, riding out 503s and dropped connections while Redis or the API recovers. */
async function waitForFinish(baseUrl: string, id: string, timeoutMs: number): Promise<JobBody | null> {
  const deadline = Date.now() + timeoutMs;
  let last: JobBody | null = null;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${baseUrl}/v1/jobs/${id}`);
      if (res.ok) {
        last = (await res.json()) as JobBody;
        if (['succeeded', 'failed', 'canceled'].includes(last.status)) return last;
      }
    } catch {
      // retried below
    }
    await sleep(RETRY_PAUSE_MS);
  }
  return last;
}

async function expectEveryAcceptedJobSucceededOnce(system: System, outcome: LoadOutcome): Promise<void> {
  expect(outcome.unexpected).toEqual([]);
  const ids = [...outcome.accepted.values()];
  expect(new Set(ids).size, 'one job per Idempotency-Key').toBe(ids.length);
  const unfinished: string[] = [];
  for (const id of ids) {
    const job = await waitForFinish(system.baseUrl, id, 60_000);
    if (job?.status !== 'succeeded') unfinished.push(`${id}: ${job ? `${job.status} ${JSON.stringify(job.error)}` : 'unreadable'}`);
  }
  expect(unfinished, system.logs()).toEqual([]);
  // Nothing but the accepted jobs exists: no request that the client saw fail became a job anyway.
  const counts = await system.queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized');
  expect(counts).toEqual({ completed: ids.length, failed: 0, active: 0, waiting: 0, delayed: 0, prioritized: 0 });
}

describe('Redis restarted under load, with its append-only file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-durability-'));
  let redis: RunningRedis;
  let system: System;
  let png: Buffer;

  beforeAll(async () => {
    redis = await startRedisServer({ dir, appendOnly: true });
    system = await new System({ workers: 2, redisUrl: redis.url, env: { WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' } }).start();
    png = await renderDigitImage({ digit: 7, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  async function restartRedisDuringLoad(stop: () => Promise<void>, downMs: number): Promise<LoadOutcome> {
    let done = false;
    const load = runLoad(system.baseUrl, png, 6, () => done);
    await sleep(1500);
    await stop();
    await sleep(downMs);
    redis = await startRedisServer({ port: redis.port, dir, appendOnly: true });
    await sleep(2500);
    done = true;
    return load;
  }

  it('graceful restart (SIGTERM): every accepted job succeeds once, none is duplicated', async () => {
    const outcome = await restartRedisDuringLoad(() => redis.stop(), 1000);
    expect(outcome.accepted.size).toBeGreaterThan(50);
    await expectEveryAcceptedJobSucceededOnce(system, outcome);
  }, 180_000);

  it('SIGKILL: every accepted job succeeds once, none is duplicated', async () => {
    await system.queue.obliterate({ force: true });
    const outcome = await restartRedisDuringLoad(async () => {
      const exited = new Promise((resolve) => redis.process.once('exit', resolve));
      redis.process.kill('SIGKILL');
      await exited;
    }, 2000);
    expect(outcome.accepted.size).toBeGreaterThan(50);
    await expectEveryAcceptedJobSucceededOnce(system, outcome);
  }, 180_000);
});

describe('workers SIGKILLed under load', () => {
  let system: System;
  let png: Buffer;

  beforeAll(async () => {
    // Short locks so a dead worker's jobs are taken over in seconds; a long batch delay keeps jobs mid-batch when the kill lands.
    system = await new System({ workers: 0, env: { WORKER_LOCK_MS: '2000', WORKER_STALLED_INTERVAL_MS: '1000' } }).start();
    await system.startWorker();
    png = await renderDigitImage({ digit: 3, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
  }, 60_000);

  it('every accepted job succeeds exactly once while workers are killed and replaced', async () => {
    let done = false;
    const load = runLoad(system.baseUrl, png, 4, () => done);
    for (let kill = 0; kill < 3; kill++) {
      const doomed = await system.startWorker({ BATCH_MAX_DELAY_MS: '1000', BATCH_IDLE_FLUSH: 'false' });
      await sleep(1500);
      doomed.child.kill('SIGKILL');
      await doomed.exited;
    }
    done = true;
    const outcome = await load;
    expect(outcome.accepted.size).toBeGreaterThan(50);
    await expectEveryAcceptedJobSucceededOnce(system, outcome);
    // The kills landed mid-job: some jobs were taken over after their worker died.
    const completed = await system.queue.getJobs(['completed'], 0, -1);
    expect(completed.some((job) => job.stalledCounter > 0)).toBe(true);
  }, 180_000);
});
