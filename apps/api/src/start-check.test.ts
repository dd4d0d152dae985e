import { describe, expect, it } from 'vitest';
import { checkStart, isLoopbackHost } from './start-check.ts';

const KEYS = [{ name: 'alice', key: 'sk_live_0123456789abcdef' }];

describe('isLoopbackHost', () => {
  it.each(['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '128.0.0.1', '::2', '::ffff:10.0.0.1'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('checkStart', () => {
  it('refuses a non-loopback HOST without API keys, naming the fix', () => {
    const check = checkStart({ HOST: '0.0.0.0', API_KEYS: undefined, ADMIN_API_KEY: undefined, ADMIN_USER: undefined });
    expect(check.refusal).toContain('HOST=0.0.0.0');
    expect(check.refusal).toContain('API_KEYS');
  });

  it('starts on loopback without keys, with a warning that it is open', () => {
    const check = checkStart({ HOST: '127.0.0.1', API_KEYS: undefined, ADMIN_API_KEY: undefined, ADMIN_USER: undefined });
    expect(check.refusal).toBeNull();
    expect(check.warnings).toEqual([expect.stringContaining('no API_KEYS')]);
  });

  it('starts on any HOST with keys; warns while the operator surface has no credentials', () => {
    expect(checkStart({ HOST: '0.0.0.0', API_KEYS: KEYS, ADMIN_API_KEY: undefined, ADMIN_USER: undefined })).toEqual({
      refusal: null,
      warnings: [expect.stringContaining('/admin/queues')],
    });
    expect(checkStart({ HOST: '::', API_KEYS: KEYS, ADMIN_API_KEY: 'admin_0123456789abcdef', ADMIN_USER: undefined })).toEqual({ refusal: null, warnings: [] });
    expect(checkStart({ HOST: '10.1.2.3', API_KEYS: KEYS, ADMIN_API_KEY: undefined, ADMIN_USER: 'ops' })).toEqual({ refusal: null, warnings: [] });
  });
});
