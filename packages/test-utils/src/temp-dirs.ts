import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Temporary folders for one test file: call at the file's top level; each
 * call of the returned function makes a fresh `digitq-<prefix>-*` folder, and
 * every one is removed after the file's tests.
 */
export function useTempDirs(prefix: string): () => string {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  return () => {
    const dir = mkdtempSync(join(tmpdir(), `digitq-${prefix}-`));
    dirs.push(dir);
    return dir;
  };
}
