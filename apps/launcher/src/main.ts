/**
 * npm start: the whole system on one machine. Finds or starts Redis, checks
 * that a trained model is in MODELS_DIR, starts the API and WORKERS CPU
 * inference workers, waits until they are ready, prints where to look, and
 * stops everything on Ctrl-C (a second Ctrl-C forces).
 */
import type { Config } from '@digitq/config';
import { readActiveVersion } from '@digitq/registry';
import { createLogger, loadConfigOrExit } from '@digitq/service';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ensureRedis } from './ensure-redis.ts';
import { killChildren, startChild, stopChildren, type RunningChild } from './children.ts';

const READY_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 40_000;

function fail(message: string): never {
  process.stderr.write(`start: ${message}\n`);
  process.exit(1);
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, stillRunning: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!stillRunning()) throw new Error(`a process exited while waiting for ${what}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** BullMQ names each worker's Redis connection; getWorkersCount reads them from CLIENT LIST. */
async function countWorkers(redisUrl: string, prefix: string, queueName: string): Promise<number> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(queueName, { connection, prefix });
  try {
    return await queue.getWorkersCount();
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

function banner(config: Config, redisUrl: string, ownRedis: boolean): string {
  const base = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`;
  return [
    '',
    'digitq is running',
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
  const log = createLogger('launcher', config.LOG_LEVEL);

  const version = await readActiveVersion(config.MODELS_DIR, config.DEFAULT_MODEL);
  if (!version) fail(`no trained model ${config.DEFAULT_MODEL} in ${config.MODELS_DIR}; train one with: npm run train -- --dataset mnist`);

  const redis = await ensureRedis(config.REDIS_URL, config.REDIS_DATA_DIR).catch((error: Error) => fail(error.message));
  log.info({ redis: redis.url, started: Boolean(redis.own) }, redis.own ? 'started redis-server' : 'using running Redis');

  const env = { ...process.env, REDIS_URL: redis.url };
  const children: RunningChild[] = [];
  const forward = (line: string) => process.stdout.write(line + '\n');
  children.push(startChild({ name: 'api', script: 'apps/api/src/main.ts', args: [], env }, forward));
  for (let i = 0; i < config.WORKERS; i++) {
    children.push(startChild({ name: `worker-${i + 1}`, script: 'apps/worker/src/main.ts', args: ['--device', 'cpu', '--queues', 'inference,webhooks'], env }, forward));
  }
  // Training takes a whole core for minutes; its own process keeps inference latency flat meanwhile.
  for (let i = 0; i < config.TRAINING_WORKERS; i++) {
    children.push(startChild({ name: `trainer-${i + 1}`, script: 'apps/worker/src/main.ts', args: ['--device', 'cpu', '--queues', 'training'], env }, forward));
  }

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping the API and workers');
    await stopChildren(children, STOP_GRACE_MS);
    if (redis.own) await redis.own.stop();
    process.exit(code);
  };
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) {
      killChildren(children);
      process.exit(1);
    }
    void stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Children run in their own process groups; never leave them behind.
  process.on('exit', () => killChildren(children.filter((c) => c.process.exitCode === null && c.process.signalCode === null)));
  for (const child of children) {
    void child.exited.then((code) => {
      if (stopping) return;
      log.error({ process: child.spec.name, code }, 'a process exited unexpectedly; stopping everything');
      void stop(1);
    });
  }

  const allRunning = () => children.every((c) => c.process.exitCode === null);
  const healthUrl = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}/healthz`;
  try {
    await waitUntil('the API', async () => (await fetch(healthUrl)).ok, READY_TIMEOUT_MS, allRunning);
    await waitUntil('the workers', async () => (await countWorkers(redis.url, config.QUEUE_PREFIX, 'inference')) >= config.WORKERS, READY_TIMEOUT_MS, allRunning);
    await waitUntil('the training workers', async () => (await countWorkers(redis.url, config.QUEUE_PREFIX, 'training')) >= config.TRAINING_WORKERS, READY_TIMEOUT_MS, allRunning);
  } catch (error) {
    log.error({ err: error }, (error as Error).message);
    await stop(1);
    return;
  }
  process.stdout.write(banner(config, redis.url, Boolean(redis.own)));
}

main().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
