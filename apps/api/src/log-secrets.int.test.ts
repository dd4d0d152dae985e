/**
 * The API process's log stream holds no secret: API keys, the admin key and
 * password sent in every place clients put them (headers, query strings,
 * cookies), and the generated webhook secret, which goes to a file only its
 * owner can read while the log names the file. Client errors log without
 * stacks.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteKeysWithPrefix, testRedisUrl } from '@digitq/test-utils';
import { parsedLines, startApiProcess, untilConnected, type ApiProcess } from '../test/api-process.ts';

const secret = (label: string) => `sk_${label}_${randomUUID().replace(/-/g, '')}`;
const KEY = secret('alice');
const ADMIN_KEY = secret('admin');
const ADMIN_PASSWORD = `pw-${randomUUID()}`;
/** Keys sent where the API does not look for them: still credentials, still not to be logged. */
const STRAY = {
  queryApiKey: secret('query_api_key'),
  queryToken: secret('query_token'),
  queryKey: secret('query_key'),
  queryAccessToken: secret('query_access_token'),
  queryEncoded: secret('query_encoded'),
  xApiKey: secret('x_api_key'),
  cookie: secret('cookie'),
  xAuthToken: secret('x_auth_token'),
  clientSecret: secret('client_secret'),
  proxyAuthorization: secret('proxy'),
  wrongBearer: secret('wrong'),
  notFoundQuery: secret('not_found'),
};

const prefix = `logsecrets-${randomUUID().slice(0, 8)}`;
const redis = new Redis(testRedisUrl());
let api: ApiProcess;
let dataDir: string;
let secretFile: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'digitq-log-secrets-'));
  secretFile = join(dataDir, 'not-yet-there', 'webhook-secret');
  api = await startApiProcess({
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    API_KEYS: `alice:${KEY}`,
    ADMIN_API_KEY: ADMIN_KEY,
    ADMIN_USER: 'operator',
    ADMIN_PASSWORD,
    WEBHOOK_SECRET_FILE: secretFile,
    MODELS_DIR: join(dataDir, 'models'),
  });
  await untilConnected(api, undefined, { authorization: `Bearer ${KEY}` });
}, 60_000);

afterAll(async () => {
  await api?.stop();
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  rmSync(dataDir, { recursive: true, force: true });
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('the log stream', () => {
  it('holds no key sent in a header, a cookie or a query string, and no stack for client errors', async () => {
    const basic = Buffer.from(`operator:${ADMIN_PASSWORD}`).toString('base64');
    const requests: [string, Record<string, string>][] = [
      ['/v1/jobs', bearer(KEY)],
      [`/v1/jobs?api_key=${STRAY.queryApiKey}`, {}],
      [`/v1/jobs?token=${STRAY.queryToken}&key=${STRAY.queryKey}&limit=5&access_token=${STRAY.queryAccessToken}`, bearer(KEY)],
      [`/v1/jobs?api%5Fkey=${STRAY.queryEncoded}`, bearer(KEY)],
      ['/v1/jobs', { 'x-api-key': STRAY.xApiKey }],
      ['/v1/jobs', { ...bearer(KEY), cookie: `session=${STRAY.cookie}`, 'x-auth-token': STRAY.xAuthToken, 'x-client-secret': STRAY.clientSecret }],
      ['/v1/jobs', { ...bearer(KEY), 'proxy-authorization': `Basic ${STRAY.proxyAuthorization}` }],
      ['/v1/jobs', bearer(STRAY.wrongBearer)],
      [`/v1/nothing-here?api_key=${STRAY.notFoundQuery}`, bearer(KEY)],
      ['/metrics', bearer(ADMIN_KEY)],
      ['/admin/queues', { authorization: `Basic ${basic}` }],
    ];
    const firstLine = api.lines.length;
    const statuses: number[] = [];
    for (const [path, headers] of requests) statuses.push((await fetch(`${api.baseUrl}${path}`, { headers, redirect: 'manual' })).status);
    // Each reached the API and was judged: accepted, refused for its key, or not found.
    expect(statuses).toEqual([200, 401, 200, 200, 401, 200, 200, 401, 404, 200, statuses[10]]);
    expect(statuses[10]).toBeLessThan(400);

    // A successful scrape of /metrics logs at debug, below this process's level; every other request has its line.
    const logged = requests.length - 1;
    const requestLines = () => parsedLines(api.lines.slice(firstLine)).filter((line) => line.req !== undefined && line.res !== undefined);
    const deadline = Date.now() + 5000;
    while (requestLines().length < logged && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(requestLines()).toHaveLength(logged);

    const text = api.lines.join('\n');
    for (const value of [KEY, ADMIN_KEY, ADMIN_PASSWORD, basic, ...Object.values(STRAY)]) expect(text).not.toContain(value);
    // Redacted where they were, not dropped silently: the lines still say what was sent.
    expect(text).toContain('"x-api-key":"[redacted]"');
    expect(text).toContain('"authorization":"Bearer [redacted]"');
    expect(text).toContain('/v1/jobs?token=[redacted]&key=[redacted]&limit=5&access_token=[redacted]');
    expect(text).toContain('"query":{"api_key":"[redacted]"}');

    for (const line of requestLines()) {
      if ((line.res as { statusCode: number }).statusCode >= 400) expect(line.err).toBeUndefined();
    }
    expect(text).not.toContain('"stack"');
  });

  it('names the file holding the generated webhook secret, which only its owner can read, and never the secret', async () => {
    await api.waitForLine(/WEBHOOK_SECRET is not set/);
    const stored = await redis.get(`${prefix}:webhooks:secret`);
    expect(stored).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(readFileSync(secretFile, 'utf8')).toBe(`${stored}\n`);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const announcement = parsedLines(api.lines).find((line) => String(line.msg).startsWith('WEBHOOK_SECRET is not set'));
    expect(announcement?.file).toBe(secretFile);
    expect(api.lines.join('\n')).not.toContain(stored!.slice('whsec_'.length));
  });
});
