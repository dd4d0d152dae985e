import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { urlForLog } from './logger.ts';
import { writeSecretFile } from './secret-file.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('writeSecretFile', () => {
  it('writes the value readable by its owner only, in a folder it creates, replacing a file anyone could read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'digitq-secret-file-'));
    dirs.push(dir);
    const path = join(dir, 'nested', 'webhook-secret');
    await writeSecretFile(path, 'whsec_first');
    expect(readFileSync(path, 'utf8')).toBe('whsec_first\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    writeFileSync(path, 'old', { mode: 0o644 });
    await writeSecretFile(path, 'whsec_second');
    expect(readFileSync(path, 'utf8')).toBe('whsec_second\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
});

describe('urlForLog', () => {
  it('hides a URL password and leaves other URLs alone', () => {
    expect(urlForLog('redis://:s3cret@redis.internal:6379/0')).toBe('redis://:redacted@redis.internal:6379/0');
    expect(urlForLog('redis://app:s3cret@redis.internal:6379')).toBe('redis://app:redacted@redis.internal:6379');
    expect(urlForLog('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(urlForLog('not a url')).toBe('(invalid URL)');
  });
});
