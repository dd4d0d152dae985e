/**
 * `docker build` without Docker: each stage of a Dockerfile is a folder standing for its WORKDIR (/app); COPY
 * copies from the build context (honouring .dockerignore) or from an earlier stage's folder, RUN runs with
 * `bash -c` in the stage's folder with only its ARG defaults and ENV (plus PATH and HOME, for node and npm's
 * cache), the rest (USER, EXPOSE, HEALTHCHECK, CMD) is recorded. What it cannot show: the base image's own
 * files (this machine's Node 20 and glibc stand for node:20-bookworm-slim's) and file ownership.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { dockerIgnore, parseAssignments, parseCopy, parseDockerfile, type Stage } from './dockerfile.ts';

/** The WORKDIR every stage of this repository's Dockerfile uses; paths under it map to the stage's folder. */
const WORKDIR = '/app';
/** One RUN step (npm ci above all) may take this long. */
const RUN_TIMEOUT_MS = 240_000;

export interface SimulatedStage {
  name: string;
  dir: string;
  env: Record<string, string>;
  /** Instructions not simulated, for assertions: USER, HEALTHCHECK, CMD, ... */
  recorded: { keyword: string; args: string }[];
}

export interface SimulateOptions {
  context: string;
  dockerfile: string;
  dockerignore: string;
  /** Each stage gets a folder here. */
  into: string;
  log?: (line: string) => void;
}

function stagePath(stageDir: string, path: string): string {
  if (path.startsWith(`${WORKDIR}/`) || path === WORKDIR) return join(stageDir, relative(WORKDIR, path));
  if (path.startsWith('/')) throw new Error(`path outside ${WORKDIR} not simulated: ${path}`);
  return join(stageDir, path);
}

/** Docker's COPY: a folder's contents go into the destination; a file goes into it when it ends with "/". */
function copyInto(source: string, destination: string, filter: (path: string) => boolean, move: boolean): void {
  if (!existsSync(source)) throw new Error(`COPY source missing: ${source}`);
  const isDir = spawnSync('test', ['-d', source]).status === 0;
  const target = !isDir && destination.endsWith('/') ? join(destination, basename(source)) : destination;
  mkdirSync(isDir ? target : join(target, '..'), { recursive: true });
  if (move && !existsSync(target)) {
    // The build stage is not used after the runtime stage takes its files: moving node_modules (hundreds of MB)
    // stands for copying it.
    renameSync(source, target);
    return;
  }
  cpSync(source, target, { recursive: true, verbatimSymlinks: true, filter });
}

export function simulateBuild(options: SimulateOptions): SimulatedStage[] {
  const { stages } = parseDockerfile(options.dockerfile);
  const ignored = dockerIgnore(options.dockerignore);
  const fromContext = (path: string) => {
    const rel = relative(options.context, path);
    return rel === '' || !ignored(rel.split('\\').join('/'));
  };
  const done: SimulatedStage[] = [];
  for (const stage of stages) done.push(runStage(stage, done, fromContext, options));
  return done;
}

function runStage(stage: Stage, earlier: SimulatedStage[], fromContext: (path: string) => boolean, options: SimulateOptions): SimulatedStage {
  const dir = join(options.into, stage.name);
  mkdirSync(dir, { recursive: true });
  const simulated: SimulatedStage = { name: stage.name, dir, env: {}, recorded: [] };
  for (const instruction of stage.instructions) {
    const { keyword, args } = instruction;
    if (keyword === 'WORKDIR') {
      if (args !== WORKDIR) throw new Error(`WORKDIR ${args} not simulated (only ${WORKDIR})`);
    } else if (keyword === 'ARG' || keyword === 'ENV') {
      // Build arguments are not passed: each ARG takes its default, as `docker build` without --build-arg.
      for (const [key, value] of parseAssignments(args)) if (value !== undefined) simulated.env[key] = value;
    } else if (keyword === 'COPY') {
      const copy = parseCopy(args);
      const source = copy.from === null ? null : earlier.find((s) => s.name === copy.from);
      if (copy.from !== null && !source) throw new Error(`line ${instruction.line}: COPY --from=${copy.from}: no such stage`);
      for (const each of copy.sources) {
        const from = source ? stagePath(source.dir, each.replace(/\/$/, '')) : join(options.context, each);
        copyInto(from, stagePath(dir, copy.destination), source ? () => true : fromContext, source !== null);
      }
    } else if (keyword === 'RUN') {
      options.log?.(`[${stage.name}] RUN ${args}`);
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...simulated.env };
      const run = spawnSync('bash', ['-c', args], { cwd: dir, env, encoding: 'utf8', timeout: RUN_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
      if (run.status !== 0) {
        throw new Error(`line ${instruction.line}: RUN ${args} failed (${run.status ?? run.signal}):\n${`${run.stdout}\n${run.stderr}`.slice(-3000)}`);
      }
    } else simulated.recorded.push({ keyword, args });
  }
  return simulated;
}

export const readText = (path: string) => readFileSync(path, 'utf8');

/** `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}` as Compose interpolates them from `vars`. */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_all, name: string, op: string | undefined, rest: string) => {
    const got = vars[name];
    const unset = op?.startsWith(':') ? got === undefined || got === '' : got === undefined;
    if (!unset) return got!;
    if (op?.endsWith('?')) throw new Error(`compose: ${name} is required: ${rest}`);
    return op?.endsWith('-') ? rest : '';
  });
}
