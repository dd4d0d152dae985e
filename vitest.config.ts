import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // The apps bundled once (tests start the production build); one shared real Redis per run (started on a free loopback port); tests isolate by queue prefix.
    globalSetup: ['packages/test-utils/src/build-global-setup.ts', 'packages/test-utils/src/redis-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: model tests are CPU-bound, so more workers only add contention.
    maxWorkers: 2,
    // Corrections that tests post (and the processes they start) go to a folder of the run's own, never to
    // the repository's .data/feedback, and no API a test starts restores a developer's corrections.
    env: { FEEDBACK_DIR: join(tmpdir(), `digitq-test-feedback-${process.pid}`) },
  },
});
