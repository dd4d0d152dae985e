import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

const SECRET_A = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
const SECRET_B = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

describe('WEBHOOK_* configuration', () => {
  it('defaults to the Standard Webhooks schedule, no secret, private addresses refused', () => {
    const config = loadConfig({});
    expect(config.WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(config.WEBHOOK_SECRET).toBeUndefined();
    expect(config.WEBHOOK_TIMEOUT_MS).toBe(15_000);
    expect(config.WEBHOOK_RETRY_AFTER_MAX_MS).toBe(3_600_000);
    expect(config.WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });

  it('reads comma-separated secrets and schedules', () => {
    const config = loadConfig({ WEBHOOK_SECRET: `${SECRET_A}, ${SECRET_B}`, WEBHOOK_RETRY_SCHEDULE_MS: '0, 100,200', WEBHOOK_ALLOW_PRIVATE: 'true' });
    expect(config.WEBHOOK_SECRET).toEqual([SECRET_A, SECRET_B]);
    expect(config.WEBHOOK_RETRY_SCHEDULE_MS).toEqual([0, 100, 200]);
    expect(config.WEBHOOK_ALLOW_PRIVATE).toBe(true);
  });

  it.each([
    ['WEBHOOK_SECRET', 'not-a-secret'],
    ['WEBHOOK_SECRET', 'whsec_c2hvcnQ='],
    ['WEBHOOK_RETRY_SCHEDULE_MS', '0,soon'],
    ['WEBHOOK_RETRY_SCHEDULE_MS', '0,-5'],
    ['WEBHOOK_RETRY_SCHEDULE_MS', ','],
  ])('refuses %s=%s', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
  });
});
