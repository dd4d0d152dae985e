/**
 * All runtime settings, validated once at start. The only module that reads
 * process.env: everything else receives a Config (or a slice of it).
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const configSchema = z.object({
  /** HTTP port of the API. */
  PORT: intIn(0, 65535).default(3000),
  /** Interface the API binds to; non-loopback needs API keys. */
  HOST: z.string().min(1).default('127.0.0.1'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Prefix of every BullMQ key; wrap in {braces} for Redis Cluster (e.g. {digitq}). */
  QUEUE_PREFIX: z.string().min(1).regex(/^[^:\s]+$/, 'must not contain ":" or spaces').default('digitq'),
  /** Folder holding models/<name>/<version>/. */
  MODELS_DIR: z.string().min(1).default('./models'),
  /** Folder holding the MNIST IDX files. */
  DATA_DIR: z.string().min(1).default('./.data/mnist'),
  /** Base URL the dataset downloader fetches the four MNIST files from. */
  MNIST_BASE_URL: z.string().url().default('https://storage.googleapis.com/cvdf-datasets/mnist/'),
  /** Name of the model served when a job names none. */
  DEFAULT_MODEL: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).default('digitnet'),
  /** auto | tensorflow | wasm | cpu | gpu */
  TF_BACKEND: z.enum(['auto', 'tensorflow', 'wasm', 'cpu', 'gpu']).default('auto'),
  BATCH_MAX_SIZE: intIn(1, 1024).default(32),
  BATCH_MAX_DELAY_MS: intIn(0, 1000).default(5),
  /** How long finished jobs stay readable. */
  JOB_RESULT_TTL_S: intIn(60, 30 * 24 * 3600).default(24 * 3600),
  /** Upper bound on finished jobs kept per queue, whatever their age. */
  JOB_RETENTION_COUNT: intIn(10, 10_000_000).default(100_000),
  /** How long POST /predict waits for its job. */
  PREDICT_TIMEOUT_MS: intIn(100, 120_000).default(30_000),
  /** Upload limits. */
  MAX_IMAGE_BYTES: intIn(1024, 50 * 1024 * 1024).default(10 * 1024 * 1024),
  MAX_IMAGES_PER_JOB: intIn(1, 1000).default(64),
  /** Number of CPU inference workers `npm start` runs. */
  WORKERS: intIn(0, 64).default(1),
  /** How long a worker's lock on a job lasts without renewal; a dead worker's job is retried after it lapses. */
  WORKER_LOCK_MS: intIn(1000, 10 * 60_000).default(30_000),
  /** How often workers look for jobs whose lock lapsed (stalled: their worker died). */
  WORKER_STALLED_INTERVAL_MS: intIn(500, 10 * 60_000).default(30_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where `npm start` keeps its own Redis's data when it starts one. */
  REDIS_DATA_DIR: z.string().min(1).default('./.data/redis'),
  PRETTY_LOGS: bool.default(false),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: { variable: string; message: string }[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates `env` (default: process.env). Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) => (env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]])),
  );
  const result = configSchema.safeParse(known);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ variable: String(issue.path[0]), message: issue.message }));
  throw new ConfigError(
    `invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message} (got ${JSON.stringify(env[i.variable])})`).join('; ')}`,
    issues,
  );
}
