/**
 * Where a process's CPU time went during the measured runs, from the
 * .cpuprofile that `node --cpu-prof` writes at exit: self time by package
 * (an npm package, a digitq package or app — a compiled app is one bundle —,
 * Node's internals, GC) and the hottest functions.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { round } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  /** µs on the monotonic clock. */
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Share {
  name: string;
  /** Share of the busy (non-idle) samples. */
  percent: number;
}

export interface ProfileSummary {
  process: string;
  /** The run the samples were taken in. */
  scenario: string;
  busy_seconds: number;
  by_package: Share[];
  top_functions: Share[];
}

const TOP_PACKAGES = 12;
const TOP_FUNCTIONS = 15;
const IDLE = '(idle)';
const US_PER_S = 1e6;

/** The package a frame's code belongs to. */
export function packageOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native code)';
  if (url.startsWith('wasm://')) return 'wasm (tfjs kernels)';
  if (url.startsWith('node:')) return `node:${url.slice('node:'.length).split('/').slice(0, 2).join('/')}`;
  const nodeModules = url.lastIndexOf('/node_modules/');
  if (nodeModules !== -1) {
    const parts = url.slice(nodeModules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const workspace = /\/(apps|packages)\/([^/]+)\//.exec(url);
  if (workspace) return `${workspace[1]}/${workspace[2]}`;
  return url;
}

function functionOf(frame: ProfileNode['callFrame']): string {
  const file = frame.url.split('/').slice(-2).join('/');
  return `${frame.functionName || '(anonymous)'} ${file ? `${file}:${frame.lineNumber + 1}` : ''}`.trim();
}

function top(totals: Map<string, number>, busy: number, count: number): Share[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => ({ name, percent: round((100 * us) / busy) }));
}

/** Self time of the samples taken within `windows` (µs, monotonic clock): the measured runs, not start-up or warm-up. */
export function summarizeProfile(processName: string, scenario: string, profile: CpuProfile, windows: readonly [number, number][]): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (!windows.some(([start, end]) => at >= start && at <= end)) return;
    const frame = nodes.get(id)!.callFrame;
    if (frame.functionName === IDLE) return;
    // timeDeltas[i] is the gap before sample i, so the time a sample stands for is the next gap.
    const us = profile.timeDeltas[i + 1] ?? 0;
    busy += us;
    const pkg = packageOf(frame);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const fn = functionOf(frame);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  });
  return { process: processName, scenario, busy_seconds: round(busy / US_PER_S, 2), by_package: top(byPackage, busy, TOP_PACKAGES), top_functions: top(byFunction, busy, TOP_FUNCTIONS) };
}

/**
 * The profiles `--cpu-prof-dir dir` holds, named by the pid in their file
 * names (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile), one summary per
 * process and scenario (`windows`: each scenario's measured runs).
 */
export function readProfiles(dir: string, names: Map<number, string>, windows: Record<string, [number, number][]>): ProfileSummary[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .flatMap((file) => {
      const name = names.get(Number(file.split('.')[3]));
      if (name === undefined) return [];
      const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
      return Object.entries(windows).map(([scenario, times]) => summarizeProfile(name, scenario, profile, times));
    });
}
