/**
 * All runtime settings, validated once at start. The only module that reads
 * process.env: everything else receives a Config (or a slice of it).
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const intIn = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Standard Webhooks secret: `whsec_` + base64 of at least 16 random bytes (24–64 recommended). */
const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
const WEBHOOK_SECRET_MIN_BYTES = 16;
const WEBHOOK_SECRET_PREFIX_LENGTH = 'whsec_'.length;
const webhookSecret = z
  .string()
  .regex(WEBHOOK_SECRET_PATTERN, 'must be whsec_ followed by base64')
  .refine((s) => Buffer.from(s.slice(WEBHOOK_SECRET_PREFIX_LENGTH), 'base64').length >= WEBHOOK_SECRET_MIN_BYTES, {
    message: `must hold at least ${WEBHOOK_SECRET_MIN_BYTES} bytes`,
  });

/** A comma-separated list, e.g. "a, b" -> ["a", "b"]. */
const commaList = z.string().transform((v) => v.split(',').map((item) => item.trim()).filter((item) => item !== ''));

/** The Standard Webhooks retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
const DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS = [0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;
const WEBHOOK_RETRY_DELAY_MAX_MS = 7 * 24 * 3600 * 1000;
const WEBHOOK_ATTEMPTS_MAX = 50;

/**
 * API keys and admin credentials. A key is a bearer token (RFC 6750 token characters), long enough not
 * to be guessed; an API_KEYS entry is `name:key` (the name becomes the owner id of the key's jobs) or a bare
 * `key` (the owner id is then derived from the key's hash). A key that itself contains ":" needs a name.
 */
export interface ApiKeyEntry {
  name: string | null;
  key: string;
}
const API_KEY_MIN_LENGTH = 16;
const ADMIN_PASSWORD_MIN_LENGTH = 12;
const BEARER_TOKEN_PATTERN = /^[A-Za-z0-9._~+/-]+=*$/;
const API_KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const bearerToken = z
  .string()
  .min(API_KEY_MIN_LENGTH, `must be at least ${API_KEY_MIN_LENGTH} characters`)
  .regex(BEARER_TOKEN_PATTERN, 'may hold only letters, digits and - . _ ~ + / (then = padding)');
const apiKeyEntry = z.string().transform((entry, ctx): ApiKeyEntry => {
  const colon = entry.indexOf(':');
  const name = colon === -1 ? null : entry.slice(0, colon);
  const key = colon === -1 ? entry : entry.slice(colon + 1);
  if (name !== null && !API_KEY_NAME_PATTERN.test(name)) {
    ctx.addIssue({ code: 'custom', message: `key name ${JSON.stringify(name)} must be 1-64 letters, digits, _ . - (starting with a letter or digit)` });
  }
  const checked = bearerToken.safeParse(key);
  if (!checked.success) ctx.addIssue({ code: 'custom', message: `the key of ${name ?? 'an unnamed entry'} ${checked.error.issues[0]!.message}` });
  return { name, key };
});
const apiKeys = commaList.pipe(
  z
    .array(apiKeyEntry)
    .min(1)
    .refine((entries) => new Set(entries.map((e) => e.key)).size === entries.length, 'the same key is listed twice')
    .refine((entries) => {
      const names = entries.flatMap((e) => (e.name === null ? [] : [e.name]));
      return new Set(names).size === names.length;
    }, 'the same name is given to two keys'),
);

/** A Redis Cluster hash tag: the first {...} with something inside; only that part of a key picks its slot. */
const CLUSTER_HASH_TAG = /^[^{]*\{[^}]+\}/;

export const configSchema = z.object({
  /** HTTP port of the API. */
  PORT: intIn(0, 65535).default(3000),
  /** Interface the API binds to; non-loopback needs API keys. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * API processes on this machine sharing PORT (node:cluster): a primary forks this many, restarts one that dies,
   * and passes SIGTERM on. 1: one process, no primary. Each process has its own UPLOAD_BUDGET_BYTES.
   */
  API_PROCESSES: intIn(1, 64).default(1),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /**
   * Redis Cluster seed nodes, `host:port,host:port,...`: set, every process uses a cluster client (REDIS_URL's
   * host is ignored; its username, password and rediss: scheme apply to every node) and QUEUE_PREFIX must
   * carry a hash tag ({digitq}) so each queue's keys share one slot. Unset: the single Redis at REDIS_URL.
   */
  REDIS_CLUSTER_NODES: commaList
    .pipe(z.array(z.string().regex(/^[^\s:]+:[0-9]{1,5}$/, 'each node is host:port')).min(1))
    .optional(),
  /**
   * How long the API waits for Redis to answer a command a request depends on; past it (or at once while
   * disconnected) the request is answered 503 SERVICE_UNAVAILABLE with Retry-After.
   */
  REDIS_COMMAND_TIMEOUT_MS: intIn(100, 60_000).default(3000),
  /**
   * How long SIGTERM's drain (in-flight requests, active jobs, closing Redis) may take before the API or worker
   * exits anyway, logging what it abandoned. Default 25 s: within the 30 s orchestrators wait before SIGKILL.
   */
  SHUTDOWN_TIMEOUT_MS: intIn(100, 10 * 60_000).default(25_000),
  /** Prefix of every BullMQ key; wrap in {braces} for Redis Cluster (e.g. {digitq}). */
  QUEUE_PREFIX: z.string().min(1).regex(/^[^:\s]+$/, 'must not contain ":" or spaces').default('digitq'),
  /** Folder holding models/<name>/<version>/. */
  MODELS_DIR: z.string().min(1).default('./models'),
  /** Folder holding the MNIST IDX files. */
  DATA_DIR: z.string().min(1).default('./.data/mnist'),
  /**
   * Most corrections (POST /v1/jobs/{id}/feedback) kept per owner; a new one beyond it drops that owner's
   * oldest. Each costs about 1.3 KB in Redis and two small files in FEEDBACK_DIR.
   */
  FEEDBACK_MAX_PER_OWNER: intIn(1, 1_000_000).default(10_000),
  /**
   * Where corrections are copied to disk (`<id>.png` and `<id>.json` each): the API restores them from here at
   * start when Redis holds none (its data was lost). Share it between API instances, or give each the same copy.
   */
  FEEDBACK_DIR: z.string().min(1).default('./.data/feedback'),
  /** Base URL the dataset downloader fetches the four MNIST files from. */
  MNIST_BASE_URL: z.string().url().default('https://storage.googleapis.com/cvdf-datasets/mnist/'),
  /** Name of the model served when a job names none. */
  DEFAULT_MODEL: z.string().regex(/^[a-z0-9][a-z0-9-]*$/).default('digitnet'),
  /** auto | tensorflow | wasm | cpu | gpu */
  TF_BACKEND: z.enum(['auto', 'tensorflow', 'wasm', 'cpu', 'gpu']).default('auto'),
  /**
   * What serves a model version: `onnx` (ONNX Runtime on the version's model.onnx), `tfjs` (TensorFlow.js), or `auto`:
   * ONNX Runtime when it loads and the version has a verified model.onnx, else tfjs. Training always uses tfjs.
   */
  INFERENCE_ENGINE: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
  /** Threads one ONNX Runtime forward pass may use (tfjs on wasm runs one). One per worker process and one process per core measured best here. */
  INFERENCE_THREADS: intIn(1, 64).default(1),
  BATCH_MAX_SIZE: intIn(1, 1024).default(32),
  /** Longest wait for more jobs to fill a batch, while more are arriving. */
  BATCH_MAX_DELAY_MS: intIn(0, 60_000).default(5),
  /**
   * Run a partial batch at once when the queue has nothing more to give (a lone request never waits for
   * BATCH_MAX_DELAY_MS). false: always wait the delay to fill a batch, e.g. for a GPU worker that prefers full batches.
   */
  BATCH_IDLE_FLUSH: bool.default(true),
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
  /** Number of training workers `npm start` runs (each trains one model at a time). */
  TRAINING_WORKERS: intIn(0, 16).default(1),
  /** How long a worker's lock on a job lasts without renewal; a dead worker's job is retried after it lapses. */
  WORKER_LOCK_MS: intIn(1000, 10 * 60_000).default(30_000),
  /** How often workers look for jobs whose lock lapsed (stalled: their worker died). */
  WORKER_STALLED_INTERVAL_MS: intIn(500, 10 * 60_000).default(30_000),
  /**
   * How many times a job whose worker died (its lock lapsed) is taken over before it is failed as a job that
   * kills workers. BullMQ's default, 1, failed a job whose second worker died too: under repeated worker
   * deaths an accepted job was lost (measured in test/e2e/durability.e2e.test.ts).
   */
  WORKER_MAX_STALLED_COUNT: intIn(1, 100).default(5),
  /** Where training jobs keep their per-epoch checkpoints (a retried training resumes from them). */
  TRAINING_RUNS_DIR: z.string().min(1).default('./.data/training-runs'),
  /** `idx:<dir>` and `folder:<dir>` datasets of training jobs must lie under this folder. */
  TRAINING_DATA_ROOT: z.string().min(1).default('./.data'),
  /**
   * Activate a finished training's model automatically when the evidence says it is better: more of the
   * held-back feedback right than the active version and not worse on the MNIST test set (within
   * PROMOTE_MNIST_TOLERANCE); with no held-back feedback, no more MNIST test errors at all. Both versions
   * are scored on the same images when the training ends; its report's `promotion` says why or why not.
   */
  AUTO_PROMOTE: bool.default(false),
  /**
   * Extra MNIST test errors a candidate better on held-back feedback may make and still be promoted, as a
   * share of the test set: 0.0005 is 5 of 10,000 images, about one binomial standard error at 99.7%
   * (retraining alone moves that many). 0: never one more error.
   */
  PROMOTE_MNIST_TOLERANCE: z.coerce.number().min(0).max(0.05).default(0.0005),
  /**
   * MNIST test digits per degradation in the robustness figures of the report every new version gets
   * (10 degradations, so 1000 is 10,000 images: seconds). 0: no robustness figures in those reports.
   */
  REPORT_SUITE_COUNT: intIn(0, 10_000).default(1000),
  /** How often workers check which model version is active (hot reload). */
  MODEL_POLL_MS: intIn(100, 60_000).default(2000),
  /**
   * Default `min_confidence` of inference jobs (a request may set its own): a prediction whose calibrated top
   * probability is below it is answered `prediction: null, reason: "uncertain"` with the probabilities. 0: off.
   */
  MIN_CONFIDENCE: z.coerce.number().min(0).max(1).default(0),
  /**
   * Shadow mode: a candidate version (`name@vN`, optionally `:variant`) that inference workers also run on a share of
   * live jobs, after each job's answer is recorded, to compare with the active version (metrics, report). Unset: off.
   */
  SHADOW_MODEL: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*@v[0-9]+(:[a-z0-9]+)?$/, 'must name a version: name@vN, e.g. digitnet@v2')
    .optional(),
  /** Share of live inference jobs (0..1) that the shadow model also runs on. */
  SHADOW_FRACTION: z.coerce.number().min(0).max(1).default(0.1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Where `npm start` keeps its own Redis's data when it starts one. */
  REDIS_DATA_DIR: z.string().min(1).default('./.data/redis'),
  /** `auto`: one readable line per entry when stdout is a terminal, JSON lines otherwise; `json` or `pretty` to choose. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  // --- Tracing (OpenTelemetry) ---
  /**
   * Base URL of an OTLP/HTTP collector (e.g. http://otel-collector:4318); spans go to <url>/v1/traces.
   * Unset: no tracing at all (no exporter, no span processor; the OpenTelemetry API stays a no-op).
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /** The service name spans carry; default per process: digitq-api, digitq-worker. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Share of new traces kept (parent-based: a request that arrives sampled, or not, keeps its caller's decision); 1 keeps all. */
  OTEL_TRACES_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
  /**
   * Webhook signing secrets, comma-separated (`whsec_<base64>`); every delivery is signed with each, so a
   * receiver can move to a new secret before the old one is dropped. Unset: one is generated on first start,
   * kept in Redis (<QUEUE_PREFIX>:webhooks:secret) and written to WEBHOOK_SECRET_FILE by the API (never logged).
   */
  WEBHOOK_SECRET: commaList.pipe(z.array(webhookSecret).min(1)).optional(),
  /** Where the API writes the generated webhook secret (mode 0600) when WEBHOOK_SECRET is unset; the log only names the file. */
  WEBHOOK_SECRET_FILE: z.string().min(1).default('./.data/webhook-secret'),
  /** How long one delivery attempt may take, connect to response headers. */
  WEBHOOK_TIMEOUT_MS: intIn(100, 120_000).default(15_000),
  /**
   * Delay before each delivery attempt, ms, comma-separated; its length is the number of attempts.
   * Each delay gets ±10% jitter. Default: the Standard Webhooks schedule (0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
   */
  WEBHOOK_RETRY_SCHEDULE_MS: commaList
    .pipe(z.array(z.string().regex(/^[0-9]+$/, 'must be whole milliseconds').transform(Number).pipe(z.number().max(WEBHOOK_RETRY_DELAY_MAX_MS))).min(1).max(WEBHOOK_ATTEMPTS_MAX))
    .default(() => [...DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS]),
  /** Longest wait a receiver's Retry-After can ask for; longer requests are cut to this. */
  WEBHOOK_RETRY_AFTER_MAX_MS: intIn(0, WEBHOOK_RETRY_DELAY_MAX_MS).default(3_600_000),
  /** Deliveries a worker process runs at once (they wait on the network, not the CPU). */
  WEBHOOK_CONCURRENCY: intIn(1, 1000).default(16),
  /** Allow webhook URLs on loopback, private, link-local and other non-public addresses (local development, tests). */
  WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  // --- Access and limits (API) ---
  /**
   * API keys, comma-separated: `name:key` or `key` (e.g. `alice:sk_live_...,bob:sk_live_...`). When set, every
   * /v1 and /predict request needs `Authorization: Bearer <key>`, and each key sees only its own jobs. Unset:
   * no authentication, every request is the owner "anonymous", and the API refuses to bind beyond loopback.
   */
  API_KEYS: apiKeys.optional(),
  /** Bearer token for the operator surface (/admin/queues, /metrics). Must differ from every API key. */
  ADMIN_API_KEY: bearerToken.optional(),
  /** HTTP basic-auth login for the operator surface, for browsers opening /admin/queues. Set both or neither. */
  ADMIN_USER: z.string().min(1).regex(/^[^:]+$/, 'must not contain ":"').optional(),
  ADMIN_PASSWORD: z.string().min(ADMIN_PASSWORD_MIN_LENGTH, `must be at least ${ADMIN_PASSWORD_MIN_LENGTH} characters`).optional(),
  /** bull-board at /admin/queues shows the queues without retry/remove/clean/pause buttons. */
  BULL_BOARD_READ_ONLY: bool.default(true),
  /** Submits (POST /v1/jobs, POST /predict) are refused with 429 QUEUE_FULL while this many inference jobs wait. */
  MAX_QUEUED_JOBS: intIn(1, 100_000_000).default(10_000),
  /** Requests per second per API key (per owner), shared by every API instance through Redis; 0 = no limit. */
  RATE_LIMIT_PER_S: intIn(0, 1_000_000).default(0),
  /** How long an Idempotency-Key is remembered (same key and body: the same job). */
  IDEMPOTENCY_TTL_S: intIn(60, 30 * 24 * 3600).default(24 * 3600),
  // --- Request bodies and HTTP timeouts (API) ---
  /**
   * Largest whole request body, bytes (JSON or multipart, whatever MAX_IMAGE_BYTES x MAX_IMAGES_PER_JOB allows):
   * above it 413 PAYLOAD_TOO_LARGE, refused from Content-Length before the body is read when it is declared.
   */
  MAX_REQUEST_BYTES: intIn(64 * 1024, 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /**
   * Request-body bytes one API process holds in flight at once (Content-Length, or MAX_REQUEST_BYTES for a
   * chunked body, reserved per upload until it is answered): an upload that would exceed it is refused with
   * 503 SERVICE_UNAVAILABLE and Retry-After before its body is read. At least MAX_REQUEST_BYTES.
   */
  UPLOAD_BUDGET_BYTES: intIn(64 * 1024, 16 * 1024 * 1024 * 1024).default(192 * 1024 * 1024),
  /** Time a client has to send a request's headers; longer than HTTP_KEEP_ALIVE_TIMEOUT_MS. */
  HTTP_HEADERS_TIMEOUT_MS: intIn(1000, 10 * 60_000).default(10_000),
  /** Time a client has to send a whole request (headers and body); a stalled upload is cut (408) after it. */
  HTTP_REQUEST_TIMEOUT_MS: intIn(1000, 60 * 60_000).default(30_000),
  /** How long an idle keep-alive connection stays open between requests. */
  HTTP_KEEP_ALIVE_TIMEOUT_MS: intIn(100, 10 * 60_000).default(5_000),
}).superRefine((config, ctx) => {
  // BullMQ's Lua scripts touch several keys of a queue at once; in a cluster they must hash to one slot, which only
  // a hash tag in the prefix guarantees (otherwise every script fails with CROSSSLOT).
  if (config.REDIS_CLUSTER_NODES !== undefined && !CLUSTER_HASH_TAG.test(config.QUEUE_PREFIX)) {
    ctx.addIssue({
      code: 'custom',
      path: ['QUEUE_PREFIX'],
      message: `with REDIS_CLUSTER_NODES set it must carry a Redis Cluster hash tag, e.g. {${config.QUEUE_PREFIX.replace(/[{}]/g, '')}}, so each queue's keys share one slot`,
    });
  }
  if ((config.ADMIN_USER === undefined) !== (config.ADMIN_PASSWORD === undefined)) {
    const missing = config.ADMIN_USER === undefined ? 'ADMIN_USER' : 'ADMIN_PASSWORD';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'ADMIN_USER and ADMIN_PASSWORD go together: set both or neither' });
  }
  if (config.ADMIN_API_KEY !== undefined && config.API_KEYS?.some((entry) => entry.key === config.ADMIN_API_KEY)) {
    ctx.addIssue({ code: 'custom', path: ['ADMIN_API_KEY'], message: 'must differ from every key in API_KEYS' });
  }
  if (config.UPLOAD_BUDGET_BYTES < config.MAX_REQUEST_BYTES) {
    ctx.addIssue({ code: 'custom', path: ['UPLOAD_BUDGET_BYTES'], message: `must be at least MAX_REQUEST_BYTES (${config.MAX_REQUEST_BYTES}), or no request of the largest size could ever be taken` });
  }
  // Node's rules: headersTimeout <= requestTimeout (http.createServer throws otherwise), and headersTimeout longer
  // than keepAliveTimeout, so an idle kept-alive connection is closed by its keep-alive timer, not as a timed-out request.
  if (config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['HTTP_HEADERS_TIMEOUT_MS'], message: `must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.HTTP_REQUEST_TIMEOUT_MS})` });
  }
  if (config.HTTP_KEEP_ALIVE_TIMEOUT_MS >= config.HTTP_HEADERS_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['HTTP_KEEP_ALIVE_TIMEOUT_MS'], message: `must be shorter than HTTP_HEADERS_TIMEOUT_MS (${config.HTTP_HEADERS_TIMEOUT_MS})` });
  }
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

/** Variables whose values an error message must not repeat (they end up in logs). */
const SECRET_VARIABLES: ReadonlySet<string> = new Set(['API_KEYS', 'ADMIN_API_KEY', 'ADMIN_PASSWORD', 'WEBHOOK_SECRET']);

/** Validates `env` (default: process.env). Throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) => (env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]])),
  );
  const result = configSchema.safeParse(known);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ variable: String(issue.path[0]), message: issue.message }));
  const got = (variable: string) => (SECRET_VARIABLES.has(variable) ? 'value not shown: it is a secret' : `got ${JSON.stringify(env[variable])}`);
  throw new ConfigError(
    `invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message} (${got(i.variable)})`).join('; ')}`,
    issues,
  );
}
