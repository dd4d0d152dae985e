/**
 * The container files checked without a container engine (none runs where this repository is developed): the
 * Dockerfile against the rules that matter here (hadolint is not installable offline on this machine), the compose
 * file against the Compose specification's JSON schema, and .env.example against what the compose file reads.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { dockerIgnore, execForm, parseAssignments, parseCopy, readDockerfile } from './dockerfile.ts';

const ROOT = join(import.meta.dirname, '../..');
const { stages } = readDockerfile(ROOT);
// merge: Compose resolves YAML merge keys (<<), which YAML 1.2 leaves out unless asked.
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; profiles?: string[]; deploy?: Record<string, unknown> }>;
};

describe('Dockerfile', () => {
  const build = stages[0]!;
  const runtime = stages.at(-1)!;

  it('has a build stage and a runtime stage on the same Node base', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    expect(runtime.from).toBe(build.from);
    expect(build.from).toMatch(/^node:20-bookworm-slim$/);
  });

  it('installs dev dependencies in the build stage: no NODE_ENV=production before its npm ci', () => {
    const npmCi = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(npmCi).toBeGreaterThan(-1);
    const before = build.instructions.slice(0, npmCi);
    expect(before.filter((i) => i.keyword === 'ENV' && parseAssignments(i.args).some(([k, v]) => k === 'NODE_ENV' && v === 'production'))).toEqual([]);
    expect(build.instructions[npmCi]!.args).not.toMatch(/--omit=dev|--production/);
  });

  it('copies every workspace\'s package.json before npm ci (npm ci refuses a lockfile naming a workspace it cannot see)', () => {
    const npmCi = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const copied = new Set(build.instructions.slice(0, npmCi).filter((i) => i.keyword === 'COPY').flatMap((i) => parseCopy(i.args).sources));
    const workspaces = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces.flatMap((pattern) =>
      pattern.endsWith('/*')
        ? readdirSync(join(ROOT, pattern.slice(0, -2)), { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(ROOT, pattern.slice(0, -2), d.name, 'package.json'))).map((d) => `${pattern.slice(0, -2)}/${d.name}`)
        : [pattern],
    );
    expect(workspaces.length).toBeGreaterThan(10);
    expect(workspaces.filter((w) => !copied.has(`${w}/package.json`))).toEqual([]);
    expect(copied.has('package-lock.json')).toBe(true);
  });

  it('copies .npmrc (the onnxruntime install setting) before npm ci, and lets a build argument choose it', () => {
    const npmCi = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const npmrc = build.instructions.findIndex((i) => i.keyword === 'COPY' && parseCopy(i.args).sources.includes('.npmrc'));
    expect(npmrc).toBeGreaterThan(-1);
    expect(npmrc).toBeLessThan(npmCi);
    expect(build.instructions.some((i) => i.keyword === 'ARG' && /^ONNXRUNTIME_NODE_INSTALL=skip$/.test(i.args))).toBe(true);
    expect(build.instructions[npmCi]!.args).toContain('npm_config_onnxruntime_node_install="$ONNXRUNTIME_NODE_INSTALL"');
  });

  it('runtime stage: production dependencies, build output and models only; non-root; healthcheck; exec-form CMD', () => {
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args));
    expect(copies.filter((c) => c.from === null).flatMap((c) => c.sources)).toEqual(['models/']);
    const fromBuild = copies.filter((c) => c.from === 'build').flatMap((c) => c.sources);
    expect(fromBuild.filter((s) => /\/src\b|tsconfig|scripts/.test(s))).toEqual([]);
    // The build stage pruned dev dependencies before the runtime stage took node_modules.
    expect(build.instructions.some((i) => i.keyword === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
    expect(runtime.instructions.some((i) => i.keyword === 'ENV' && /NODE_ENV=production/.test(i.args))).toBe(true);
    // What the processes write by default (./.data/...) is a folder the non-root user owns.
    expect(copies.some((c) => c.sources.includes('/app/.data/') && c.destination === '.data/')).toBe(true);
    expect(runtime.instructions.find((i) => i.keyword === 'COPY' && i.args.includes('/app/.data/'))?.args).toContain('--chown=node:node');
    const user = runtime.instructions.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args).toBe('node');
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    expect(healthcheck?.args).toMatch(/\/healthz/);
    expect(execForm(healthcheck!.args.replace(/^(--\S+\s+)*CMD\s+/, ''))).not.toBeNull();
    for (const i of runtime.instructions.filter((x) => x.keyword === 'CMD' || x.keyword === 'ENTRYPOINT')) {
      expect(execForm(i.args), `line ${i.line}`).not.toBeNull();
    }
  });

  it('every COPY source from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = dockerIgnore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    for (const stage of stages) {
      for (const i of stage.instructions.filter((x) => x.keyword === 'COPY')) {
        const copy = parseCopy(i.args);
        if (copy.from !== null) continue;
        for (const source of copy.sources) {
          expect(existsSync(join(ROOT, source)), `line ${i.line}: ${source}`).toBe(true);
          expect(ignored(source.replace(/\/$/, '')), `line ${i.line}: ${source} is in .dockerignore`).toBe(false);
        }
      }
    }
  });

  it('.dockerignore keeps node_modules, builds and local data out of the context', () => {
    const ignored = dockerIgnore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    for (const path of ['node_modules/x', 'packages/jobs/node_modules/x', 'apps/api/dist/main.js', '.git/HEAD', '.data/redis', '.env', 'packages/jobs/src/queues.test.ts']) {
      expect(ignored(path), path).toBe(true);
    }
    for (const path of ['packages/jobs/src/queues.ts', 'models/digitnet/ACTIVE', '.npmrc', 'package-lock.json']) expect(ignored(path), path).toBe(false);
  });

  it('no command needs tsx or TypeScript sources', () => {
    const commands = [
      ...stages.flatMap((s) => s.instructions.filter((i) => ['CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(i.keyword)).map((i) => i.args)),
      ...Object.values(compose.services).map((s) => JSON.stringify(s.command ?? [])),
    ];
    for (const command of commands) expect(command).not.toMatch(/\btsx\b|\.ts\b/);
  });
});

/** Ajv for the Compose schema, which names draft-07 by its https address (Ajv knows it as http://...#). */
function composeAjv(options: { allErrors?: boolean } = {}): Ajv {
  const ajv = new Ajv({ ...options, strict: false });
  addFormats.default(ajv);
  const draft07 = createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as Record<string, unknown>;
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  return ajv;
}
const composeSchema = () => JSON.parse(readFileSync(join(import.meta.dirname, 'compose-spec.json'), 'utf8')) as Record<string, unknown>;

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification schema', () => {
    const validate = composeAjv({ allErrors: true }).compile(composeSchema());
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema rejects a broken file (the validation is live)', () => {
    expect(composeAjv().validate(composeSchema(), { services: { api: { command: 42, replicas: 'many', no_such_key: true } } })).toBe(false);
  });

  it('has Redis with append-only persistence and a healthcheck, API and worker replicas, and an opt-in GPU worker with an NVIDIA reservation', () => {
    const services = compose.services as Record<string, any>;
    expect(services.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes', '--maxmemory-policy', 'noeviction']));
    expect(services.redis.healthcheck.test).toEqual(['CMD', 'redis-cli', 'ping']);
    expect(services.api.deploy.replicas).toBeDefined();
    expect(services.worker.deploy.replicas).toBeDefined();
    expect(services['worker-gpu'].profiles).toEqual(['gpu']);
    expect(services['worker-gpu'].deploy.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(services['worker-gpu'].build.args.ONNXRUNTIME_NODE_INSTALL).toBe('cuda12');
    expect(services.worker.volumes).toContain('models:/app/models');
    expect(existsSync(join(ROOT, 'deploy/nginx.conf'))).toBe(true);
  });

  it('.env.example names every variable the compose file reads', () => {
    const text = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    const read = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!));
    const example = new Set(
      readFileSync(join(ROOT, '.env.example'), 'utf8')
        .split('\n')
        .flatMap((l) => (/^([A-Z_][A-Z0-9_]*)=/.exec(l) ? [l.split('=')[0]!] : [])),
    );
    expect([...read].filter((v) => !example.has(v))).toEqual([]);
  });
});
