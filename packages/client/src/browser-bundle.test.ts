/**
 * The client as a browser bundles it: contracts are imported as types only,
 * so neither zod nor contracts' Buffer code, nor any node: module, reaches
 * the bundle.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('browser bundle', () => {
  it('holds no contracts, zod or Node built-ins', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('./index.ts', import.meta.url))],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.every((path) => path.includes('packages/client/src/'))).toBe(true);
    expect(inputs.some((path) => path.endsWith('client.ts'))).toBe(true);
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/from ["']node:|require\(|\bBuffer\.from\b|zod/);
  });
});
