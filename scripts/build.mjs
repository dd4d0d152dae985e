#!/usr/bin/env node
/**
 * Production build: each app's entry points bundled with esbuild into plain
 * JavaScript that `node` runs without a TypeScript loader.
 *
 * Only the workspace's own packages (@digitq/*, TypeScript sources) are
 * bundled; every npm dependency stays an import of node_modules, so native
 * and wasm packages (sharp, tfjs-backend-wasm, onnxruntime) load their files
 * from where npm put them. Type checking is `tsc -b`'s job (npm run
 * typecheck); this step only transpiles, in about a second.
 *
 * The page at / (apps/api/src/web) is bundled for browsers, dependencies
 * included, into apps/api/dist/web with its static files.
 *
 *   node scripts/build.mjs            # apps/<app>/dist/<entry>.js, apps/api/dist/web/
 */
import { build } from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Entry points per app; each becomes apps/<app>/dist/<name>.js (a key with a slash is a folder of its own: packages/client/dist/cli.js). */
export const ENTRY_POINTS = {
  api: ['main'],
  worker: ['main'],
  launcher: ['main'],
  cli: ['train', 'eval', 'download-data', 'model-export', 'model-quantize', 'model-import', 'model-report', 'model-ensemble'],
  'packages/client': ['cli'],
};
const folderOf = (app) => join(ROOT, app.includes('/') ? app : join('apps', app));

/** Bare imports that are not the workspace's own packages stay imports of node_modules. */
const externalDependencies = {
  name: 'external-dependencies',
  setup(plugin) {
    plugin.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@digitq/') ? undefined : { path: args.path, external: true }));
  },
};

/** The page the API serves at / (apps/api/src/web): its script bundled for browsers, its static files copied beside it. */
const WEB_SOURCE = join(ROOT, 'apps/api/src/web');
const WEB_OUT = join(ROOT, 'apps/api/dist/web');
const WEB_STATIC_FILES = ['index.html', 'styles.css', 'favicon.svg'];

async function buildWebPage() {
  await build({
    entryPoints: [join(WEB_SOURCE, 'app.ts')],
    outdir: WEB_OUT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  mkdirSync(WEB_OUT, { recursive: true });
  for (const file of WEB_STATIC_FILES) cpSync(join(WEB_SOURCE, file), join(WEB_OUT, file));
}

const started = performance.now();
await Promise.all([
  buildWebPage(),
  ...Object.entries(ENTRY_POINTS).map(([app, entries]) =>
    build({
      entryPoints: entries.map((entry) => join(folderOf(app), 'src', `${entry}.ts`)),
      outdir: join(folderOf(app), 'dist'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      plugins: [externalDependencies],
      logLevel: 'warning',
      // A stack trace should name functions as written.
      keepNames: true,
    }),
  ),
]);
process.stderr.write(`build: ${Object.values(ENTRY_POINTS).flat().length} entry points and the web page bundled in ${Math.round(performance.now() - started)} ms\n`);
