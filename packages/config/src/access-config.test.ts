import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('access and limits configuration', () => {
  it('defaults: no keys, no admin, read-only board, 10000 queued jobs, no rate limit, 24 h idempotency', () => {
    const config = loadConfig({});
    expect(config.API_KEYS).toBeUndefined();
    expect(config.ADMIN_API_KEY).toBeUndefined();
    expect(config.BULL_BOARD_READ_ONLY).toBe(true);
    expect(config.MAX_QUEUED_JOBS).toBe(10_000);
    expect(config.RATE_LIMIT_PER_S).toBe(0);
    expect(config.IDEMPOTENCY_TTL_S).toBe(86_400);
  });

  it('parses API_KEYS as named and unnamed keys', () => {
    expect(loadConfig({ API_KEYS: 'alice:sk_live_0123456789abcdef, sk_live_fedcba9876543210' }).API_KEYS).toEqual([
      { name: 'alice', key: 'sk_live_0123456789abcdef' },
      { name: null, key: 'sk_live_fedcba9876543210' },
    ]);
  });

  it('refuses short keys, bad names, duplicates, and never repeats a secret in the message', () => {
    const short = configError({ API_KEYS: 'alice:tooshort' });
    expect(short.issues).toEqual([{ variable: 'API_KEYS', message: 'the key of alice must be at least 16 characters' }]);
    expect(short.message).not.toContain('tooshort');
    expect(configError({ API_KEYS: 'a b:sk_live_0123456789abcdef' }).issues[0]!.message).toMatch(/key name "a b"/);
    expect(configError({ API_KEYS: 'a:sk_live_0123456789abcdef,b:sk_live_0123456789abcdef' }).issues[0]!.message).toBe('the same key is listed twice');
    expect(configError({ API_KEYS: 'a:sk_live_0123456789abcdef,a:sk_live_0123456789abcdeX' }).issues[0]!.message).toBe('the same name is given to two keys');
    const password = configError({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'short' });
    expect(password.message).not.toContain('short"');
  });

  it('wants ADMIN_USER and ADMIN_PASSWORD together, and an admin key unlike every API key', () => {
    expect(configError({ ADMIN_USER: 'ops' }).issues).toEqual([{ variable: 'ADMIN_PASSWORD', message: expect.stringContaining('set both or neither') }]);
    expect(configError({ ADMIN_PASSWORD: 'correct horse battery' }).issues[0]!.variable).toBe('ADMIN_USER');
    expect(configError({ API_KEYS: 'a:sk_live_0123456789abcdef', ADMIN_API_KEY: 'sk_live_0123456789abcdef' }).issues[0]!.variable).toBe('ADMIN_API_KEY');
    expect(loadConfig({ ADMIN_USER: 'ops', ADMIN_PASSWORD: 'correct horse battery', BULL_BOARD_READ_ONLY: 'false' })).toMatchObject({
      ADMIN_USER: 'ops',
      BULL_BOARD_READ_ONLY: false,
    });
  });
});
