/** vitest globalSetup: bundle the apps once per run, so tests that start processes run the current code compiled. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './app-processes.ts';

export function setup(): void {
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
}
