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
 *   node scripts/build.mjs            # apps/<app>/dist/<entry>.js
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Entry points per app; each becomes apps/<app>/dist/<name>.js (a key with a slash is a folder of its own: packages/client/dist/cli.js). */
export const ENTRY_POINTS = {
  api: ['main'],
  worker: ['main'],
  launcher: ['main'],
  cli: ['train', 'eval', 'download-data', 'model-export', 'model-quantize', 'model-import'],
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

const started = performance.now();
await Promise.all(
  Object.entries(ENTRY_POINTS).map(([app, entries]) =>
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
);
process.stderr.write(`build: ${Object.values(ENTRY_POINTS).flat().length} entry points bundled in ${Math.round(performance.now() - started)} ms\n`);
