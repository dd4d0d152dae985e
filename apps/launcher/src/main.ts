/**
 * npm start: the whole system on one machine. Finds or starts Redis, checks
 * that a trained model is in MODELS_DIR, starts the API and WORKERS CPU
 * inference workers, waits until they are ready, prints where to look, keeps
 * them running (restarting one that crashes), and stops everything on Ctrl-C
 * (a second Ctrl-C forces). None of them outlives the launcher, however it ends.
 */
import { hostname } from 'node:os';
import type { Config } from '@digitq/config';
import { createRedisConnection, listLiveWorkers } from '@digitq/jobs';
import { readActiveVersion } from '@digitq/registry';
import { DEFAULT_RESTART_POLICY, createLogger, loadConfigOrExit, urlForLog, type Logger } from '@digitq/service';
import type { ChildSpec } from './children.ts';
import { ensureRedis } from './ensure-redis.ts';
import { startSupervisor, type SupervisedProcess } from './supervisor.ts';

const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 40_000;
/** A readiness probe that takes longer than this counts as not ready yet. */
const PROBE_TIMEOUT_MS = 2_000;

function fail(message: string): never {
  process.stderr.write(`start: ${message}\n`);
  process.exit(1);
}

/**
 * pino writes asynchronously; at process.exit a line still being written can
 * land after later ones or be lost. The launcher's last words (why it gave
 * up) and the banner must come after its log lines, so it waits for them.
 */
async function flushLog(log: Logger): Promise<void> {
  await new Promise<void>((resolve) => log.flush(() => resolve()));
}

function baseUrl(config: Config): string {
  return `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`;
}

interface ReadinessProbes {
  /** The API answers /healthz. */
  api(): Promise<boolean>;
  /** The worker with this pid has written its heartbeat: it consumes its queues (what /readyz counts). */
  worker(pid: number): Promise<boolean>;
  close(): void;
}

function readinessProbes(config: Config, redisUrl: string, log: Logger): ReadinessProbes {
  // One retry, not BullMQ's endless wait: a probe that cannot reach Redis answers "not yet" and is asked again.
  const redis = createRedisConnection({ url: redisUrl, clusterNodes: config.REDIS_CLUSTER_NODES }, { maxRetriesPerRequest: 1 });
  redis.on('error', (error) => log.debug({ err: error }, 'readiness probe: redis connection error'));
  const host = hostname();
  return {
    async api() {
      const response = await fetch(`${baseUrl(config)}/healthz`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
      await response.body?.cancel();
      return response.ok;
    },
    async worker(pid) {
      return (await listLiveWorkers(redis, config.QUEUE_PREFIX)).some((w) => w.pid === pid && w.hostname === host);
    },
    close: () => redis.disconnect(),
  };
}

function banner(config: Config, redisUrl: string, ownRedis: boolean): string {
  const base = baseUrl(config);
  return [
    '',
    'digitq is running',
    `  web page       ${base}/  (draw a digit)`,
    `  API            ${base}`,
    `  API docs       ${base}/docs/  (OpenAPI: ${base}/openapi.json)`,
    `  queues         ${base}/admin/queues  (bull-board)`,
    `  health         ${base}/healthz, ${base}/readyz, metrics ${base}/metrics`,
    `  submit a job   curl -F image=@digit.png ${base}/v1/jobs`,
    `  classify now   curl -F file=@digit.png ${base}/predict`,
    `  Redis          ${redisUrl}${ownRedis ? ` (started here, data in ${config.REDIS_DATA_DIR})` : ''}`,
    `  workers        ${config.WORKERS} CPU inference worker(s), ${config.TRAINING_WORKERS} training worker(s); add more with: npm run worker -- --device cpu --queues inference`,
    `  train a model  curl -H 'content-type: application/json' -d '{"epochs": 2}' ${base}/v1/trainings`,
    '  stop           Ctrl-C',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const config = loadConfigOrExit('launcher');
  const log = createLogger('launcher', config.LOG_LEVEL, {}, config.LOG_FORMAT);

  const version = await readActiveVersion(config.MODELS_DIR, config.DEFAULT_MODEL);
  if (!version) fail(`no trained model ${config.DEFAULT_MODEL} in ${config.MODELS_DIR}; train one with: npm run train -- --dataset mnist`);

  const redis = await ensureRedis(config.REDIS_URL, config.REDIS_DATA_DIR, config.REDIS_CLUSTER_NODES).catch((error: Error) => fail(error.message));
  log.info({ redis: urlForLog(redis.url), started: Boolean(redis.own), redis_pid: redis.own?.process.pid }, redis.own ? 'started redis-server' : 'using running Redis');

  const env = { ...process.env, REDIS_URL: redis.url };
  const probes = readinessProbes(config, redis.url, log);
  const processes: SupervisedProcess[] = [{ spec: { name: 'api', app: 'api', args: [], env }, isReady: () => probes.api() }];
  for (let i = 0; i < config.WORKERS; i++) {
    const spec: ChildSpec = { name: `worker-${i + 1}`, app: 'worker', args: ['--device', 'cpu', '--queues', 'inference,webhooks'], env };
    processes.push({ spec, isReady: (pid) => probes.worker(pid) });
  }
  // Training takes a whole core for minutes; its own process keeps inference latency flat meanwhile.
  for (let i = 0; i < config.TRAINING_WORKERS; i++) {
    const spec: ChildSpec = { name: `trainer-${i + 1}`, app: 'worker', args: ['--device', 'cpu', '--queues', 'training'], env };
    processes.push({ spec, isReady: (pid) => probes.worker(pid) });
  }

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping the API and workers');
    await supervisor.stop(STOP_GRACE_MS);
    probes.close();
    if (redis.own) await redis.own.stop();
    await flushLog(log);
    process.exit(code);
  };
  const supervisor = startSupervisor({ processes, policy: DEFAULT_RESTART_POLICY, log, onGiveUp: () => void stop(1) });
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      supervisor.kill();
      process.exit(1);
    }
    void stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Every way out (a forced stop, a crash of the launcher itself) leaves nothing running; an own Redis is stopped by its watcher (ensure-redis.ts).
  process.on('exit', () => supervisor.kill());

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)));
  const ready = await Promise.race([supervisor.allReady.then(() => true), timedOut]);
  clearTimeout(timer);
  if (stopping) return;
  if (!ready) {
    log.error({ not_ready: supervisor.notReady() }, `timed out after ${READY_TIMEOUT_MS} ms waiting for ${supervisor.notReady().join(', ')}`);
    await stop(1);
    return;
  }
  await flushLog(log);
  process.stdout.write(banner(config, urlForLog(redis.url), Boolean(redis.own)));
}

main().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
