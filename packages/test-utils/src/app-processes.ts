/**
 * How tests start digitq's processes: the production build (what `npm start`
 * and the Docker image run), bundled fresh by the vitest global setup
 * (build-global-setup.ts), so a test never runs stale output.
 */
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');

export type AppName = 'api' | 'worker' | 'launcher';

/** Arguments after `node` that start `app` (spawn(process.execPath, [...appArgs(app), ...more])). */
export function appArgs(app: AppName): string[] {
  return [join(REPO_ROOT, 'apps', app, 'dist', 'main.js')];
}
