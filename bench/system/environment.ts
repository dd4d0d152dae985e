/** What a result was measured on: machine, load, software versions, commit. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ROOT } from './processes.ts';
import { round } from './stats.ts';

const GIB = 1024 ** 3;
/** The packages whose versions decide the figures. */
const PACKAGES = ['bullmq', 'ioredis', 'express', 'multer', 'sharp', 'onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'autocannon'] as const;

export interface Machine {
  cpu_model: string;
  cores: number;
  memory_gib: number;
  kernel: string;
}

export interface Commit {
  sha: string;
  /** Uncommitted changes in the working tree when measured (other work in progress is measured with it). */
  dirty: boolean;
  changed_paths: string[];
}

export function loadAverage(): [number, number, number] {
  const [one, five, fifteen] = loadavg();
  return [round(one!, 2), round(five!, 2), round(fifteen!, 2)];
}

export function machine(): Machine {
  return {
    cpu_model: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    memory_gib: round(totalmem() / GIB),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  };
}

export function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version };
  // Read from the root node_modules, where npm hoists them (sharp's exports do not include its package.json).
  for (const name of PACKAGES) {
    const manifest = join(ROOT, 'node_modules', name, 'package.json');
    versions[name] = existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : 'not installed';
  }
  versions.libvips = sharp.versions.vips;
  versions['redis-server'] = /v=(\S+)/.exec(execFileSync('redis-server', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  return versions;
}

export function commit(): Commit {
  // Not trimmed at the start: porcelain lines begin with a status column that may be a space.
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trimEnd();
  const changed = git('status', '--porcelain', '--untracked-files=no')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.slice(3));
  return { sha: git('rev-parse', 'HEAD'), dirty: changed.length > 0, changed_paths: changed };
}
