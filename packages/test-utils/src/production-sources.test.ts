/**
 * Test scaffolding stays out of production sources: no module under
 * apps/<app>/src that is not itself a test imports vitest, this package, the
 * imaging test fixtures, or an app's test/ folder (where each app keeps its
 * harnesses: apps/api/test, apps/worker/test).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './app-processes.ts';

const TEST_ONLY_IMPORT = /from\s+['"](vitest|@digitq\/test-utils|@digitq\/imaging\/test-images|(?:\.\.?\/)+test\/[^'"]*)['"]/;

function productionSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return productionSources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('production sources', () => {
  it('import no test scaffolding', () => {
    const apps = join(REPO_ROOT, 'apps');
    const sources = readdirSync(apps).flatMap((app) => productionSources(join(apps, app, 'src')));
    expect(sources.length).toBeGreaterThan(10);
    const offenders = sources.filter((path) => TEST_ONLY_IMPORT.test(readFileSync(path, 'utf8'))).map((path) => relative(REPO_ROOT, path));
    expect(offenders).toEqual([]);
  });
});
