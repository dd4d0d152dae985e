/**
 * digitq on a real Redis Cluster: six Debian redis-server processes on loopback (cluster-enabled, 3 masters with
 * one replica each, joined by `redis-cli --cluster create`), the API and a worker pointed at it with
 * REDIS_CLUSTER_NODES and a hash-tagged QUEUE_PREFIX. submit -> result and Prefer: wait go through it; then the
 * master holding the queue's slot is SIGKILLed under load: its replica is promoted, processing goes on without
 * restarting anything, and the test reports accepted vs succeeded jobs (docs/deployment.md quotes the numbers).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { freePort } from '@digitq/test-utils';
import { startTestReceiver, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { DATA_DIR, MODELS_DIR, sleep, startProcess, type JobBody, type ProcessHandle } from '../e2e/system.ts';

const NODES = 6;
/** A master unreachable this long is failed over by its replica (Redis's default is 15 s; short here to keep the test short). */
const NODE_TIMEOUT_MS = 2000;
const CLUSTER_OK_TIMEOUT_MS = 30_000;
const RETRY_PAUSE_MS = 100;
const LOAD_CLIENTS = 4;
/** Writes timed with and without WAIT, for what synchronous acknowledgement by a replica would cost. */
const WAIT_PROBE_WRITES = 200;

const WEBHOOK_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
const TINY_TRAINING = { dataset: 'mnist', architecture: 'tiny', epochs: 2, limit: 1200, augment: 'none', validation_split: 0.1, model_name: 'digitnet' };

/** A server-sent events answer read to its end (the API closes it after `finished`), as event names with their data. */
async function readEvents(url: string, timeoutMs: number): Promise<{ event: string; data: JobBody }[]> {
  const res = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal: AbortSignal.timeout(timeoutMs) });
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .map((block) => ({ event: /^event: (.*)$/m.exec(block)?.[1], data: /^data: (.*)$/m.exec(block)?.[1] }))
    .filter((e): e is { event: string; data: string } => e.event !== undefined && e.data !== undefined)
    .map((e) => ({ event: e.event, data: JSON.parse(e.data) as JobBody }));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Node {
  port: number;
  process: ChildProcess;
}

function redisCli(port: number, ...args: string[]): string {
  const run = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${run.stderr}`);
  return run.stdout;
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** The master currently serving `slot`, from CLUSTER SLOTS as redis-cli prints it (start, end, master ip, master port, ...). */
function masterPortOf(askPort: number, slot: number): number {
  const lines = redisCli(askPort, 'cluster', 'slots').trim().split('\n');
  for (let i = 0; i + 3 < lines.length; i++) {
    const start = Number(lines[i]);
    const end = Number(lines[i + 1]);
    if (Number.isInteger(start) && Number.isInteger(end) && slot >= start && slot <= end && lines[i + 2] === '127.0.0.1') return Number(lines[i + 3]);
  }
  throw new Error(`no master for slot ${slot}`);
}

describe('digitq on a Redis Cluster (3 masters, 3 replicas)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-cluster-'));
  const nodes: Node[] = [];
  const tag = `{e2e-${randomUUID().slice(0, 8)}}`;
  let api: ProcessHandle;
  let worker: ProcessHandle;
  let trainer: ProcessHandle;
  let receiver: TestReceiver;
  // Trainings write new versions: a copy, never the repository's models.
  const modelsDir = join(dir, 'models');
  cpSync(MODELS_DIR, modelsDir, { recursive: true });
  let baseUrl = '';
  let png: Buffer;

  const env = (port: number): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // Only lends its scheme and credentials (none here): the cluster nodes are named below.
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    QUEUE_PREFIX: tag,
    PORT: String(port),
    HOST: '127.0.0.1',
    MODELS_DIR: modelsDir,
    DATA_DIR,
    TRAINING_RUNS_DIR: join(dir, 'runs'),
    WEBHOOK_SECRET,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    LOG_LEVEL: 'info',
  });

  beforeAll(async () => {
    for (let i = 0; i < NODES; i++) {
      const port = await freePort();
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction'],
        { stdio: 'ignore' },
      );
      nodes.push({ port, process: child });
    }
    await until('redis-server nodes answer', () => nodes.every((n) => redisCli(n.port, 'ping').trim() === 'PONG'), 10_000);
    redisCli(nodes[0]!.port, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes');
    await until('cluster_state:ok on every node', () => nodes.every((n) => redisCli(n.port, 'cluster', 'info').includes('cluster_state:ok')), CLUSTER_OK_TIMEOUT_MS);
    // cluster_state:ok comes before the replicas' first sync ends; until then a master's writes have no copy at all.
    await until(
      'every master with an online replica',
      () => nodes.filter((n) => redisCli(n.port, 'info', 'replication').includes('role:master')).every((n) => /slave0:.*state=online/.test(redisCli(n.port, 'info', 'replication'))),
      CLUSTER_OK_TIMEOUT_MS,
    );
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    api = startProcess('api', 'api', [], env(port));
    // The inference worker's jobs are retried soon after a lost lock; the trainer keeps the default lock, longer
    // than a training's longest step holds its event loop.
    worker = startProcess('worker', 'worker', ['--device', 'cpu', '--queues', 'inference'], { ...env(0), WORKER_LOCK_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' });
    trainer = startProcess('trainer', 'worker', ['--device', 'cpu', '--queues', 'training,webhooks'], env(0));
    await Promise.all([api.waitForLine(/api listening/), worker.waitForLine(/worker consuming/), trainer.waitForLine(/worker consuming/)]);
    receiver = await startTestReceiver();
    png = await renderDigitImage({ digit: 7, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' });
  }, 120_000);

  afterAll(async () => {
    await receiver?.close();
    for (const p of [api, worker, trainer]) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    const forced = setTimeout(() => [api, worker, trainer].forEach((p) => p?.child.kill('SIGKILL')), 30_000);
    await Promise.all([api, worker, trainer].filter(Boolean).map((p) => p.exited));
    clearTimeout(forced);
    for (const n of nodes) if (n.process.exitCode === null && n.process.signalCode === null) n.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const logs = () => [api, worker, trainer].map((p) => `--- ${p.name}\n${p.lines.slice(-30).join('\n')}`).join('\n');

  function form(): FormData {
    const body = new FormData();
    body.append('image', new Blob([new Uint8Array(png)], { type: 'image/png' }), '7.png');
    return body;
  }

  it('refuses a queue prefix without a hash tag, saying why', async () => {
    const refused = startProcess('api-untagged', 'api', [], { ...env(await freePort()), QUEUE_PREFIX: 'digitq' });
    const { code } = await refused.exited;
    expect(code).not.toBe(0);
    expect(refused.lines.join('\n')).toMatch(/QUEUE_PREFIX: with REDIS_CLUSTER_NODES set it must carry a Redis Cluster hash tag, e.g. \{digitq\}/);
  });

  it('submit -> result, and Prefer: wait, through the cluster', async () => {
    const submitted = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form() });
    const job = (await submitted.json()) as JobBody;
    expect(submitted.status, JSON.stringify(job)).toBe(202);
    let read = job;
    const deadline = Date.now() + 30_000;
    while (read.status !== 'succeeded' && Date.now() < deadline) {
      await sleep(50);
      read = (await (await fetch(`${baseUrl}/v1/jobs/${job.id}`)).json()) as JobBody;
    }
    expect(read.status, logs()).toBe('succeeded');
    expect(read.output.predictions[0].prediction).toBe(7);

    const waited = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form(), headers: { Prefer: 'wait=10' } });
    const done = (await waited.json()) as JobBody;
    expect(waited.status, JSON.stringify(done)).toBe(200);
    expect(done.status).toBe('succeeded');
    expect(done.output.predictions[0].prediction).toBe(7);
  });

  it('server-sent events and signed webhooks of a job, through the cluster', async () => {
    const body = form();
    body.append('webhook', receiver.url());
    body.append('webhook_events_filter', 'job.completed');
    const submitted = (await (await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body })).json()) as JobBody;
    const events = await readEvents(`${baseUrl}/v1/jobs/${submitted.id}/events`, 30_000);
    expect(events.at(-1)?.event, logs()).toBe('finished');
    expect(events.at(-1)!.data.output.predictions[0].prediction).toBe(7);
    const [delivery] = await receiver.waitForRequests(1);
    const verified = new Webhook(WEBHOOK_SECRET).verify(delivery!.body, delivery!.headers as Record<string, string>) as { type: string; data: JobBody };
    expect(verified).toMatchObject({ type: 'job.completed', data: { id: submitted.id, status: 'succeeded' } });
  });

  it('a tiny training with progress over server-sent events, through the cluster', async () => {
    const res = await fetch(`${baseUrl}/v1/trainings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TINY_TRAINING) });
    const training = (await res.json()) as JobBody;
    expect(res.status, JSON.stringify(training)).toBe(202);
    const events = await readEvents(`${baseUrl}/v1/trainings/${training.id}/events`, 150_000);
    expect(events.filter((e) => e.event === 'progress').length, `${JSON.stringify(events).slice(0, 3000)}\n${logs()}`).toBeGreaterThanOrEqual(2);
    expect(events.at(-1)?.event).toBe('finished');
    expect(events.at(-1)!.data).toMatchObject({ status: 'succeeded', model: { name: 'digitnet' } });
  }, 180_000);

  it('what WAIT (a write acknowledged by a replica) would cost per write, measured on the queue slot\'s master', async () => {
    const slot = Number(redisCli(nodes[0]!.port, 'cluster', 'keyslot', tag).trim());
    const master = new Redis(masterPortOf(nodes[0]!.port, slot), '127.0.0.1');
    try {
      const time = async (withWait: boolean) => {
        const ms: number[] = [];
        for (let i = 0; i < WAIT_PROBE_WRITES; i++) {
          const started = performance.now();
          await master.set(`${tag}:wait-probe:${i}`, 'x', 'EX', 60);
          if (withWait) expect(await master.wait(1, 1000)).toBe(1);
          ms.push(performance.now() - started);
        }
        return median(ms);
      };
      const report = { async_write_median_ms: await time(false), wait_1_replica_write_median_ms: await time(true) };
      console.log(`redis cluster write acknowledgement: ${JSON.stringify(report)}`);
      expect(report.wait_1_replica_write_median_ms).toBeGreaterThan(0);
    } finally {
      await master.quit();
    }
  });

  it('a master killed under load: its replica is promoted and processing goes on without restarts; accepted vs succeeded reported', async () => {
    const slot = Number(redisCli(nodes[0]!.port, 'cluster', 'keyslot', tag).trim());
    const masterPort = masterPortOf(nodes[0]!.port, slot);
    const master = nodes.find((n) => n.port === masterPort)!;
    const other = nodes.find((n) => n !== master)!;

    const accepted = new Map<string, { id: string; at: number }>();
    const unexpected: string[] = [];
    let retries = 0;
    let stop = false;
    const client = async () => {
      while (!stop) {
        const key = randomUUID();
        for (;;) {
          try {
            const res = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form(), headers: { 'Idempotency-Key': key }, signal: AbortSignal.timeout(15_000) });
            const json = (await res.json()) as JobBody;
            if (res.status === 202 || res.status === 200) {
              accepted.set(key, { id: json.id, at: Date.now() });
              break;
            }
            const inProgress = res.status === 409 && json.error?.code === 'IDEMPOTENCY_CONFLICT';
            if (res.status < 500 && !inProgress) {
              unexpected.push(`${res.status} ${JSON.stringify(json)}`);
              break;
            }
          } catch {
            // no answer: the key decides on the next attempt
          }
          retries++;
          await sleep(RETRY_PAUSE_MS);
        }
      }
    };
    const load = Promise.all(Array.from({ length: LOAD_CLIENTS }, client));
    await sleep(2000);
    const killedAt = Date.now();
    master.process.kill('SIGKILL');
    await until('a replica promoted for the queue slot', () => masterPortOf(other.port, slot) !== masterPort, 30_000);
    const promotedAfterMs = Date.now() - killedAt;
    await until('cluster_state:ok again', () => redisCli(other.port, 'cluster', 'info').includes('cluster_state:ok'), 30_000);
    await sleep(3000);
    stop = true;
    await load;

    const outcomes = await Promise.all(
      [...accepted.values()].map(async ({ id, at }) => {
        const deadline = Date.now() + 60_000;
        let last: JobBody | null = null;
        let status = 0;
        while (Date.now() < deadline) {
          const res = await fetch(`${baseUrl}/v1/jobs/${id}`).catch(() => null);
          status = res?.status ?? 0;
          last = res?.ok ? ((await res.json()) as JobBody) : (await res?.body?.cancel(), null);
          if (status === 404 || (last && ['succeeded', 'failed', 'canceled'].includes(last.status))) break;
          await sleep(RETRY_PAUSE_MS);
        }
        return { id, at, status, job: last };
      }),
    );
    const succeeded = outcomes.filter((o) => o.job?.status === 'succeeded');
    const lost = outcomes.filter((o) => o.status === 404);
    const lostWindowMs = lost.length === 0 ? 0 : Math.max(...lost.map((o) => killedAt - o.at));
    const report = {
      accepted: accepted.size,
      succeeded: succeeded.length,
      lost: lost.length,
      lost_accepted_within_ms_before_kill: lostWindowMs,
      replica_promoted_after_ms: promotedAfterMs,
      client_retries: retries,
    };
    console.log(`redis cluster failover under load: ${JSON.stringify(report)}`);

    expect(unexpected).toEqual([]);
    expect(accepted.size).toBeGreaterThan(10);
    // Every accepted job either succeeded or is gone with the writes asynchronous replication had not yet sent:
    // nothing is stuck, failed, or half-written.
    expect(succeeded.length + lost.length, logs()).toBe(accepted.size);
    // Those lost were accepted just before the kill (the replication lag), never after the promotion.
    expect(lost.every((o) => o.at <= killedAt)).toBe(true);
    expect(lostWindowMs).toBeLessThan(1000);
    // Nothing was restarted: the same API and worker processes served before and after.
    expect(api.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    expect(trainer.child.exitCode).toBeNull();
    // And new work after the failover goes through.
    const after = await fetch(`${baseUrl}/v1/jobs`, { method: 'POST', body: form(), headers: { Prefer: 'wait=20' } });
    expect(((await after.json()) as JobBody).status, logs()).toBe('succeeded');
  }, 180_000);
});
