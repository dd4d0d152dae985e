/**
 * The HTTP load scenarios, declared once and run the same way against every
 * target (ceiling C, the seed's in-process design, digitq in each
 * configuration), and what each repeat of one costs each process in CPU.
 */
import { cpuSecondsOf, machineBusySeconds, processTree } from './processes.ts';
import { runLoad, type LoadResult, type RequestBody } from './load.ts';
import { round } from './stats.ts';

/** The concurrency for every throughput run. */
export const LOAD_CONNECTIONS = 64;

export type BodyName = 'predict-small' | 'predict-drawing' | 'predict-photo' | 'job-small' | 'job-32' | 'v2-binary-small';

export interface ScenarioSpec {
  label: string;
  path: '/predict' | '/v1/jobs' | '/v2/models/digitnet/infer';
  body: BodyName;
  connections: number;
  /** Images one request carries (async runs count completed jobs x this). */
  imagesPerRequest: number;
  /** Async: the answer is 202 and the job runs later; completions are counted apart. */
  async: boolean;
  /** Runs for a third of the configured seconds (latency of one client needs fewer samples than throughput). */
  short?: boolean;
}

export const SCENARIOS = {
  'sync-small': { label: 'sync /predict, 28x28 PNG', path: '/predict', body: 'predict-small', connections: LOAD_CONNECTIONS, imagesPerRequest: 1, async: false },
  'sync-drawing': { label: 'sync /predict, 280x280 PNG drawing', path: '/predict', body: 'predict-drawing', connections: LOAD_CONNECTIONS, imagesPerRequest: 1, async: false },
  'sync-photo': { label: 'sync /predict, 1000x800 JPEG photo', path: '/predict', body: 'predict-photo', connections: LOAD_CONNECTIONS, imagesPerRequest: 1, async: false },
  'async-small': { label: 'async POST /v1/jobs, one 28x28 PNG', path: '/v1/jobs', body: 'job-small', connections: LOAD_CONNECTIONS, imagesPerRequest: 1, async: true },
  'async-32': { label: 'async POST /v1/jobs, 32 x 28x28 PNG per job', path: '/v1/jobs', body: 'job-32', connections: LOAD_CONNECTIONS, imagesPerRequest: 32, async: true },
  'v2-small': { label: 'sync V2 infer, one 28x28 input as a binary FP32 tensor', path: '/v2/models/digitnet/infer', body: 'v2-binary-small', connections: LOAD_CONNECTIONS, imagesPerRequest: 1, async: false },
  'single-client': { label: 'sync /predict, 28x28 PNG, one client', path: '/predict', body: 'predict-small', connections: 1, imagesPerRequest: 1, async: false, short: true },
} as const satisfies Record<string, ScenarioSpec>;
export type ScenarioName = keyof typeof SCENARIOS;

/** Something that answers the scenarios over HTTP. */
export interface Target {
  /** e.g. "C", "seed", "digitq base". */
  name: string;
  /** One base URL per API process. */
  baseUrls: string[];
  /** Process ids by role (api, worker, redis), for the CPU each uses with the processes it forked. */
  roles: Record<string, number[]>;
  /** Jobs completed so far (async scenarios). */
  completions?: () => Promise<number>;
  /** Drops queued jobs and waits for running ones, so one scenario's backlog never weighs on the next. */
  clearBacklog?: () => Promise<void>;
}

export interface RepeatResult extends LoadResult {
  /** Async: jobs completed per second during the run, and images per second (x imagesPerRequest). */
  completed_jobs_per_s?: number;
  completed_images_per_s?: number;
  /**
   * Cores each role used on average during the run (1 = one core busy); `generator` is this process, and
   * `other` whatever else kept the machine busy meanwhile (other people's work: the figures are only as
   * good as this is small).
   */
  cpu_cores: Record<string, number>;
  /** When the run started and ended on the machine's monotonic clock, µs (the clock of --cpu-prof's samples). */
  window_us: [number, number];
}

export interface ScenarioResult {
  target: string;
  scenario: ScenarioName;
  label: string;
  connections: number;
  seconds: number;
  repeats: RepeatResult[];
}

export interface RunSettings {
  seconds: number;
  repeats: number;
  warmupSeconds: number;
}

export function scenarioSeconds(spec: ScenarioSpec, settings: RunSettings): number {
  return spec.short ? Math.max(1, Math.round(settings.seconds / 3)) : settings.seconds;
}

function cpuByRole(roles: Record<string, number[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(roles).map(([role, pids]) => [role, pids.flatMap(processTree).reduce((sum, pid) => sum + cpuSecondsOf(pid), 0)]));
}

const NS_PER_US = 1000n;

/** CLOCK_MONOTONIC in µs: what process.hrtime reads here and what V8 stamps profile samples with in every process. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / NS_PER_US);
}

function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export async function runScenario(target: Target, name: ScenarioName, bodies: Record<BodyName, RequestBody>, settings: RunSettings): Promise<ScenarioResult> {
  const spec: ScenarioSpec = SCENARIOS[name];
  const seconds = scenarioSeconds(spec, settings);
  const load = { urls: target.baseUrls.map((base) => base + spec.path), body: bodies[spec.body], connections: spec.connections };
  await target.clearBacklog?.();
  if (settings.warmupSeconds > 0) await runLoad({ ...load, seconds: settings.warmupSeconds });
  const repeats: RepeatResult[] = [];
  for (let r = 0; r < settings.repeats; r++) {
    // CPU, completions and the wall clock are all read at the same two moments, around the run.
    const started = performance.now();
    const cpuBefore = cpuByRole(target.roles);
    const selfBefore = selfCpuSeconds();
    const machineBefore = machineBusySeconds();
    const completedBefore = spec.async ? await target.completions?.() : undefined;
    const startUs = monotonicUs();
    const result = await runLoad({ ...load, seconds });
    const endUs = monotonicUs();
    const completedAfter = spec.async ? await target.completions?.() : undefined;
    const cpuAfter = cpuByRole(target.roles);
    const selfAfter = selfCpuSeconds();
    const machineAfter = machineBusySeconds();
    const wall = (performance.now() - started) / 1000;
    const cores = Object.fromEntries(Object.keys(cpuAfter).map((role) => [role, round((cpuAfter[role]! - cpuBefore[role]!) / wall, 2)]));
    cores.generator = round((selfAfter - selfBefore) / wall, 2);
    const measured = Object.values(cores).reduce((sum, c) => sum + c, 0);
    cores.other = round(Math.max(0, (machineAfter - machineBefore) / wall - measured), 2);
    const repeat: RepeatResult = { ...result, cpu_cores: cores, window_us: [startUs, endUs] };
    if (completedBefore !== undefined && completedAfter !== undefined) {
      const perS = (completedAfter - completedBefore) / wall;
      repeat.completed_jobs_per_s = round(perS);
      repeat.completed_images_per_s = round(perS * spec.imagesPerRequest);
    }
    repeats.push(repeat);
  }
  await target.clearBacklog?.();
  return { target: target.name, scenario: name, label: spec.label, connections: spec.connections, seconds, repeats };
}
