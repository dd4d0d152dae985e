/**
 * npx tsx bench/system.bench.ts [--seconds 10] [--repeats 3] [--quick] [--predictions 100000]
 *                               [--only A,B,C,seed,base,...] [--note "text for RESULTS.md"] [--budget]
 *                               [--render bench/results/<date>.json]
 *
 * The system benchmark (issue 11): starts its own Redis, measures this
 * machine's ceilings (A bare BullMQ, B the bare model, C Express + multer +
 * BullMQ with an empty processor) and digitq against them, black-box over
 * HTTP and Redis, in each configuration of bench/system/digitq.ts; writes
 * bench/results/<date>.json (everything raw) and bench/RESULTS.md.
 *
 * Everything runs on the same cores, the load generator (autocannon, in
 * this process) included; the load average before and after is recorded.
 * --quick: 2 s runs, one repeat, a tenth of the predictions: a smoke test,
 * written under $TMPDIR/digitq-bench-quick/ instead. --budget: print the
 * time each part should take, and stop. --render: write RESULTS.md (beside
 * the results folder) from a results file, measuring nothing.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '@digitq/config';
import { freePort, startRedisServer } from '@digitq/service';
import { PRODUCER_IN_FLIGHT, runBareBullmq } from './ceilings/bare-bullmq.ts';
import { SYSTEM_CONFIGS, benchSettings, checkAnswers, clearBacklog, predictedImages, startSystem, tfTensors, workerEngines, type SystemConfig } from './system/digitq.ts';
import { memoryProbe, memoryVerdict, runDrain, type MemoryCheckpoint } from './system/drain.ts';
import { commit, loadAverage, machine, packageVersions } from './system/environment.ts';
import { BENCH_DIGIT, IMAGES_PER_JOB, multipartBody, renderJobUploads, renderUpload } from './system/images.ts';
import { ROOT, buildIfBuildable, processCommand, runMode, startChild, tsxCommand, type Child } from './system/processes.ts';
import { readProfiles } from './system/profile.ts';
import { writeReport } from './system/report.ts';
import type { BareModelResult, ConfigResult, Results } from './system/results.ts';
import { preprocessDigitImage } from '@digitq/imaging';
import { encodeInferRequest } from '@digitq/api/v2-binary';
import type { RequestBody } from './system/load.ts';
import { SCENARIOS, runScenario, scenarioSeconds, type BodyName, type RunSettings, type ScenarioName, type ScenarioResult, type Target } from './system/scenarios.ts';
import { round } from './system/stats.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string' },
    repeats: { type: 'string' },
    predictions: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    note: { type: 'string' },
    budget: { type: 'boolean', default: false },
    render: { type: 'string' },
  },
});

// --render <results.json>: write RESULTS.md again from figures already measured (after a change to the report).
if (args.render) {
  const rendered = JSON.parse(readFileSync(args.render, 'utf8')) as Results;
  process.stdout.write(`${writeReport(rendered, join(dirname(args.render), '..', 'RESULTS.md'), `bench/results/${basename(args.render)}`)}\n`);
  process.exit(0);
}

/** drainMinJobs: the smallest backlog a drain repeat times, however many predictions the load runs already made. */
const QUICK = { seconds: 2, repeats: 1, predictions: 9_600, warmupSeconds: 1, bareModelSeconds: 0.2, drainMinJobs: 50 };
const DEFAULT = { seconds: 10, repeats: 3, predictions: 100_000, warmupSeconds: 1, bareModelSeconds: 0.3, drainMinJobs: 512 };
const mode = args.quick ? 'quick' : 'default';
const preset = args.quick ? QUICK : DEFAULT;
const settings: RunSettings & { predictions: number; bareModelSeconds: number; drainMinJobs: number } = {
  seconds: Number(args.seconds ?? preset.seconds),
  repeats: Number(args.repeats ?? preset.repeats),
  warmupSeconds: preset.warmupSeconds,
  predictions: Number(args.predictions ?? preset.predictions),
  bareModelSeconds: preset.bareModelSeconds,
  drainMinJobs: preset.drainMinJobs,
};
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim())) : null;
const wanted = (name: string) => !only || only.has(name);

const CEILING_C_SCENARIOS: ScenarioName[] = ['sync-small', 'async-small', 'single-client'];
const SEED_SCENARIOS: ScenarioName[] = ['sync-small'];
const DIGITQ_MODEL = loadConfig({}).DEFAULT_MODEL;
/** The empty worker takes as many jobs at once as digitq's worker (its concurrency is BATCH_MAX_SIZE). */
const EMPTY_WORKER_CONCURRENCY = loadConfig({}).BATCH_MAX_SIZE;
const CEILING_QUEUE = 'ceiling';
/** A quick run is a smoke test: its figures go to a temp dir, never over the committed ones. */
const OUTPUT_DIR = args.quick ? join(tmpdir(), 'digitq-bench-quick') : import.meta.dirname;
const RESULTS_DIR = join(OUTPUT_DIR, 'results');
const REPORT = join(OUTPUT_DIR, 'RESULTS.md');

/** Rough costs for the budget printed at the start (this machine; digitq from tsx starts slower than compiled). */
const ESTIMATE = { startS: { compiled: 4, tsx: 8 }, ceilingStartS: 3, stopS: 2, repeatOverheadS: 0.3, drainImagesPerS: 3000, loadRunImagesPerS: 500, bareModelStartS: 6, enqueueS: 5 };
/** BullMQ alone settles within a second or two at thousands of jobs/s: half the HTTP runs' time is plenty. */
const bareBullmqSeconds = () => Math.max(1, Math.round(settings.seconds / 2));

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

function scenarioBudget(names: readonly ScenarioName[], run: RunSettings = settings): number {
  return names.reduce((sum, name) => sum + run.warmupSeconds + run.repeats * (scenarioSeconds(SCENARIOS[name], run) + ESTIMATE.repeatOverheadS), 0);
}

/** A profiled configuration runs each scenario once, for half the time: it explains, it is not a figure. */
function configSettings(config: SystemConfig): RunSettings {
  return config.profile ? { ...settings, repeats: 1, seconds: Math.max(1, Math.round(settings.seconds / 2)) } : settings;
}

/** Seconds each part should take, printed before anything runs. */
function budget(mode: 'compiled' | 'tsx'): { part: string; seconds: number }[] {
  const startS = ESTIMATE.startS[mode];
  const ceilingStartS = ESTIMATE.ceilingStartS;
  const parts: { part: string; seconds: number }[] = [];
  if (wanted('B')) parts.push({ part: 'B bare model, 9 batch sizes', seconds: ESTIMATE.bareModelStartS + 9 * (settings.repeats + 1) * Math.max(settings.bareModelSeconds, 0.2) });
  if (wanted('A')) parts.push({ part: 'A bare BullMQ', seconds: ceilingStartS + settings.warmupSeconds + settings.repeats * bareBullmqSeconds() });
  if (wanted('C')) parts.push({ part: `C Express+multer+BullMQ (${CEILING_C_SCENARIOS.join(', ')})`, seconds: ceilingStartS + scenarioBudget(CEILING_C_SCENARIOS) + ESTIMATE.stopS });
  if (wanted('seed')) parts.push({ part: `seed in-process design (${SEED_SCENARIOS.join(', ')})`, seconds: ceilingStartS + scenarioBudget(SEED_SCENARIOS) + ESTIMATE.stopS });
  for (const config of SYSTEM_CONFIGS.filter((c) => wanted(c.name))) {
    let seconds = startS + scenarioBudget(config.scenarios, configSettings(config)) + ESTIMATE.stopS;
    if (config.drain) {
      const duringRuns = ESTIMATE.loadRunImagesPerS * scenarioBudget(config.scenarios.slice(1), configSettings(config));
      const drained = Math.max(settings.predictions - duringRuns, settings.repeats * settings.drainMinJobs * IMAGES_PER_JOB);
      seconds += drained / ESTIMATE.drainImagesPerS + ESTIMATE.enqueueS;
    }
    parts.push({ part: `digitq ${config.name}: ${config.scenarios.join(', ')}${config.drain ? `, drain up to ${settings.predictions} predictions` : ''}`, seconds });
  }
  return parts.map((p) => ({ ...p, seconds: Math.round(p.seconds) }));
}

const started = performance.now();
const loadBefore = loadAverage();
const run = args.budget ? runMode() : buildIfBuildable();
const plan = budget(run.mode);
const budgetS = plan.reduce((sum, p) => sum + p.seconds, 0);
log(`system benchmark, ${mode} mode: ${settings.seconds} s per run, ${settings.repeats} repeat(s), load average ${loadBefore.join(' ')}`);
for (const p of plan) log(`  budget ${String(p.seconds).padStart(4)} s  ${p.part}`);
log(`  budget ${String(budgetS).padStart(4)} s  in all (about ${round(budgetS / 60)} min; the drain's share scales with the worker's speed; npm run bench spends about a minute on the model and imaging benches before this)`);
if (args.budget) process.exit(0);
log(`digitq runs as: ${run.note}`);
const redis = await startRedisServer();
const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
const redisPid = redis.process.pid!;
const children: Child[] = [];
let interrupted = false;
const onSignal = () => {
  if (interrupted) process.exit(1);
  interrupted = true;
  log('interrupted: stopping what was started');
  void Promise.all(children.map((c) => c.stop())).finally(() => void redis.stop().finally(() => process.exit(130)));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function startCeiling(name: string, script: string, childArgs: string[]): Promise<Child> {
  const child = startChild(name, tsxCommand(script), {}, childArgs);
  children.push(child);
  await child.firstMessage();
  return child;
}

/** Asks a ceiling's empty worker how many jobs it has completed. */
function completedBy(worker: Child): () => Promise<number> {
  return () =>
    new Promise((resolve) => {
      worker.process.once('message', (message) => resolve((message as { completed: number }).completed));
      worker.process.send('count');
    });
}

// Uploads and the request bodies, the same bytes on every request.
const uploads = {
  small: await renderUpload('small', BENCH_DIGIT),
  drawing: await renderUpload('drawing', BENCH_DIGIT),
  photo: await renderUpload('photo', BENCH_DIGIT),
};
const jobUploads = await renderJobUploads();
const bodies: Record<BodyName, RequestBody> = {
  'predict-small': await multipartBody('file', [uploads.small]),
  'predict-drawing': await multipartBody('file', [uploads.drawing]),
  'predict-photo': await multipartBody('file', [uploads.photo]),
  'job-small': await multipartBody('image', [uploads.small]),
  'job-32': await multipartBody('image', jobUploads),
  // The Open Inference Protocol with the binary tensor extension: the small image's preprocessed pixels as FP32.
  'v2-binary-small': v2BinaryBody((await preprocessDigitImage(uploads.small.bytes)).pixels),
};

function v2BinaryBody(pixels: Float32Array): RequestBody {
  const { body, headerLength } = encodeInferRequest([pixels], { binaryOutput: true });
  return { bytes: Buffer.from(body), contentType: 'application/octet-stream', headers: { 'Inference-Header-Content-Length': String(headerLength) } };
}

const ceilings: Results['ceilings'] = {};
const digitq: Record<string, ConfigResult> = {};
const failures: string[] = [];
const digitqDefaults = loadConfig({});
const retention = { resultTtlS: digitqDefaults.JOB_RESULT_TTL_S, maxCount: digitqDefaults.JOB_RETENTION_COUNT };
const modelsDir = join(import.meta.dirname, '..', 'models');

async function runAll(target: Target, names: readonly ScenarioName[], run: RunSettings = settings): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  for (const name of names) {
    const result = await runScenario(target, name, bodies, run);
    const line = result.repeats.map((x) => `${x.req_per_s} req/s p99 ${x.p99_ms} ms${x.errors ? ` ${x.errors} errors` : ''}${x.completed_jobs_per_s !== undefined ? ` (${x.completed_jobs_per_s} jobs/s done)` : ''}`);
    log(`  ${target.name} ${name}: ${line.join(' | ')}`);
    out.push(result);
  }
  return out;
}

async function postSmall(base: string): Promise<Response> {
  return fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': bodies['predict-small'].contentType }, body: bodies['predict-small'].bytes });
}

async function measureBareModel(): Promise<void> {
  log('B: the bare model at each batch size');
  const child = startChild('bare-model', tsxCommand('bench/ceilings/bare-model.ts'), {}, [
    '--models-dir', modelsDir, '--model', DIGITQ_MODEL, '--seconds', String(settings.bareModelSeconds), '--repeats', String(settings.repeats),
  ]);
  children.push(child);
  ceilings.B = (await child.firstMessage()) as BareModelResult;
  for (const row of ceilings.B.rows) log(`  batch ${String(row.batch).padStart(3)}: ${row.images_per_s.map((v) => Math.round(v)).join(', ')} images/s`);
}

async function measureBareBullmq(): Promise<void> {
  log(`A: bare BullMQ, ${PRODUCER_IN_FLIGHT} adds in flight, empty processor in another process`);
  const worker = await startCeiling('empty-worker-A', 'bench/ceilings/empty-worker.ts', ['--redis-url', redis.url, '--prefix', 'ceiling-a', '--queue', CEILING_QUEUE, '--concurrency', String(EMPTY_WORKER_CONCURRENCY)]);
  const measure = (seconds: number) => runBareBullmq({ connection, prefix: 'ceiling-a', queue: CEILING_QUEUE, retention, seconds, completed: completedBy(worker) });
  await measure(settings.warmupSeconds);
  ceilings.A = [];
  for (let r = 0; r < settings.repeats; r++) ceilings.A.push(await measure(bareBullmqSeconds()));
  for (const r of ceilings.A) log(`  added ${Math.round(r.added_per_s)}/s, completed ${Math.round(r.completed_per_s)}/s`);
}

async function measureExpressBullmq(): Promise<void> {
  log('C: Express + multer + BullMQ, empty processor in another process');
  const common = ['--redis-url', redis.url, '--prefix', 'ceiling-c', '--queue', CEILING_QUEUE];
  const worker = await startCeiling('empty-worker-C', 'bench/ceilings/empty-worker.ts', [...common, '--concurrency', String(EMPTY_WORKER_CONCURRENCY)]);
  const server = await startCeiling('express-bullmq', 'bench/ceilings/express-bullmq.ts', [...common, '--port', String(await freePort())]);
  const base = `http://127.0.0.1:${((await server.firstMessage()) as { port: number }).port}`;
  const answer = await postSmall(base);
  if (answer.status !== 200) throw new Error(`ceiling C answered POST /predict with ${answer.status}`);
  const queue = new Queue(CEILING_QUEUE, { connection, prefix: 'ceiling-c' });
  try {
    const roles = { api: [server.pid], worker: [worker.pid], redis: [redisPid] };
    ceilings.C = await runAll({ name: 'C', baseUrls: [base], roles, completions: completedBy(worker), clearBacklog: () => clearBacklog(queue) }, CEILING_C_SCENARIOS);
  } finally {
    await queue.close();
  }
}

async function measureInProcess(): Promise<void> {
  log("seed: the seed's design, preprocess and predict in the request, no queue");
  const server = await startCeiling('in-process', 'bench/ceilings/in-process.ts', ['--port', String(await freePort()), '--models-dir', modelsDir, '--model', DIGITQ_MODEL]);
  const base = `http://127.0.0.1:${((await server.firstMessage()) as { port: number }).port}`;
  const prediction = ((await (await postSmall(base)).json()) as { prediction?: number }).prediction;
  if (prediction !== BENCH_DIGIT) throw new Error(`the in-process design answered ${prediction}, expected ${BENCH_DIGIT}`);
  ceilings.seed = await runAll({ name: 'seed', baseUrls: [base], roles: { api: [server.pid], redis: [redisPid] } }, SEED_SCENARIOS);
}

async function measureDigitq(config: SystemConfig): Promise<void> {
  log(`digitq ${config.name}: ${config.description}`);
  const profileDir = config.profile ? mkdtempSync(join(tmpdir(), 'digitq-bench-profile-')) : null;
  const system = await startSystem(config, { redisUrl: redis.url, redisPid, connection, prefix: `dq-${config.name}`, profileDir });
  const processes = [...system.apis, ...system.workers];
  children.push(...processes);
  const result: ConfigResult = { description: config.description, api_mode: system.apiMode, env: config.env, scenarios: [], worker_engines: await workerEngines(system.baseUrls[0]!) };
  digitq[config.name] = result;
  try {
    await checkAnswers(system.baseUrls[0]!, bodies, jobUploads);
    const run = configSettings(config);
    const [first, ...rest] = config.scenarios;
    result.scenarios = await runAll(system.target, first ? [first] : [], run);
    // The memory check starts warm, after the first run; the other runs' predictions count towards its total.
    const probe = memoryProbe(system.workers[0]!.pid, () => predictedImages(system.metricsUrls.slice(0, 1)), () => tfTensors(system.metricsUrls[0]!));
    const checkpoints: MemoryCheckpoint[] = config.drain ? [await probe()] : [];
    result.scenarios.push(...(await runAll(system.target, rest, run)));
    if (config.drain) {
      await clearBacklog(system.queue);
      const before = await probe();
      checkpoints.push(before);
      const missing = Math.max(0, settings.predictions - before.predictions);
      const jobsPerRepeat = Math.max(settings.drainMinJobs, Math.ceil(missing / IMAGES_PER_JOB / settings.repeats));
      log(`  ${before.predictions} predictions so far; draining ${settings.repeats} x ${jobsPerRepeat} jobs of ${IMAGES_PER_JOB} images through the worker`);
      const repeats = await runDrain({ queue: system.queue, uploads: jobUploads, jobsPerRepeat, repeats: settings.repeats, afterRepeat: async () => void checkpoints.push(await probe()) });
      result.drain = { jobs_per_repeat: jobsPerRepeat, images_per_job: IMAGES_PER_JOB, repeats, memory: memoryVerdict(checkpoints.map(({ predictions, worker_rss_mib, tf_tensors }) => ({ predictions, worker_rss_mib, tf_tensors }))) };
      log(`  drain: ${repeats.map((r) => `${r.images_per_s} images/s`).join(', ')}; worker RSS ${checkpoints.map((c) => `${c.worker_rss_mib} MiB at ${c.predictions}`).join(' -> ')}`);
    }
  } finally {
    await system.stop();
    if (profileDir) {
      // The profiles are written as the processes exit.
      const names = new Map(processes.map((c) => [c.pid, c.name]));
      result.profiles = readProfiles(profileDir, names, Object.fromEntries(result.scenarios.map((sc) => [sc.scenario, sc.repeats.map((r) => r.window_us)])));
      rmSync(profileDir, { recursive: true, force: true });
    }
  }
}

/** Runs one part on an empty Redis; a part that fails is reported, stops what it started, and the others still run. */
async function part(name: string, measure: () => Promise<void>): Promise<void> {
  if (!wanted(name)) return;
  await connection.flushall();
  try {
    await measure();
  } catch (error) {
    const message = `${name}: ${error instanceof Error ? error.message : String(error)}`;
    failures.push(message);
    log(`FAILED ${message}`);
  } finally {
    await Promise.all(children.splice(0).map((c) => c.stop()));
  }
}

try {
  await part('B', measureBareModel);
  await part('A', measureBareBullmq);
  await part('C', measureExpressBullmq);
  await part('seed', measureInProcess);
  for (const config of SYSTEM_CONFIGS) await part(config.name, () => measureDigitq(config));
} finally {
  await connection.quit();
  await redis.stop();
}

const { WEBHOOK_SECRET: _secret, ...shownSettings } = benchSettings(redis.url, 'dq-<config>', 1);
const results: Results = {
  created_at: new Date().toISOString(),
  mode,
  note: args.note ?? null,
  settings: {
    seconds: settings.seconds,
    repeats: settings.repeats,
    warmup_seconds: settings.warmupSeconds,
    predictions: settings.predictions,
    images_per_job: IMAGES_PER_JOB,
    digit: BENCH_DIGIT,
    digitq_command: `${[processCommand('api'), processCommand('worker')].map((c) => ['node', ...c.args].join(' ').replaceAll(`${ROOT}/`, '')).join(' ; ')} (${run.mode})`,
    digitq_env: {
      ...shownSettings,
      REDIS_URL: 'its own redis-server on a free loopback port',
      MODELS_DIR: relative(ROOT, shownSettings.MODELS_DIR!) || '.',
      WEBHOOK_SECRET: '<random per run>',
      WEBHOOK_SECRET_FILE: '<a temp file>',
      WORKERS: '<per configuration>',
    },
    configs: SYSTEM_CONFIGS.filter((c) => wanted(c.name)),
    generator: `autocannon in the benchmark's own process, on the same ${machine().cores} cores as everything it measures`,
  },
  machine: machine(),
  load_average: { before: loadBefore, after: loadAverage() },
  versions: packageVersions(),
  commit: commit(),
  budget_s: budgetS,
  elapsed_s: round((performance.now() - started) / 1000),
  failures,
  ceilings,
  digitq,
};
mkdirSync(RESULTS_DIR, { recursive: true });
const file = join(RESULTS_DIR, `${results.created_at.slice(0, 10)}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
const summary = writeReport(results, REPORT, args.quick ? file : `bench/results/${results.created_at.slice(0, 10)}.json`);
process.stdout.write(`\n${summary}\n`);
log(`written ${file} and ${REPORT} in ${results.elapsed_s} s (budget ${budgetS} s)`);
