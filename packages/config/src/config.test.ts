import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './index.ts';

describe('loadConfig', () => {
  it('applies documented defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config.PORT).toBe(3000);
    expect(config.HOST).toBe('127.0.0.1');
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.QUEUE_PREFIX).toBe('digitq');
    expect(config.MODELS_DIR).toBe('./models');
  });

  it('coerces numbers and booleans from strings', () => {
    const config = loadConfig({ PORT: '8080', BATCH_MAX_SIZE: '16', LOG_FORMAT: 'pretty' });
    expect(config.PORT).toBe(8080);
    expect(config.BATCH_MAX_SIZE).toBe(16);
    expect(config.LOG_FORMAT).toBe('pretty');
  });

  it('names every invalid variable and its value', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'not a url', QUEUE_PREFIX: 'a:b' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.variable).sort();
    expect(issues).toEqual(['PORT', 'QUEUE_PREFIX', 'REDIS_URL']);
    expect((error as ConfigError).message).toContain('"eighty"');
  });

  it('accepts a hash-tagged prefix for Redis Cluster', () => {
    expect(loadConfig({ QUEUE_PREFIX: '{digitq}' }).QUEUE_PREFIX).toBe('{digitq}');
  });
});
