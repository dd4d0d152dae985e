import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ConnectionHealth, isRedisUnavailableError } from './redis-health.ts';

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
}

function setUp() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  let now = 1_000_000;
  const health = new ConnectionHealth(pino(stream), () => now);
  return { lines, health, advance: (ms: number) => (now += ms) };
}

/** A BullMQ object: errors on itself, 'ready' on its backend. */
function bullmqLike() {
  const backend = new EventEmitter();
  const source = Object.assign(new EventEmitter(), { getBackend: () => backend });
  return { source, backend };
}

describe('ConnectionHealth', () => {
  it('logs an outage once, whatever the attempts and sources, and its end once every source is back', () => {
    const { lines, health, advance } = setUp();
    const client = new EventEmitter();
    const queue = bullmqLike();
    health.watch('redis', client);
    health.watch('queue', queue.source);
    for (let attempt = 0; attempt < 10; attempt++) {
      const error = refused();
      // A queue on a shared client forwards the client's own Error: one attempt, not two.
      client.emit('error', error);
      queue.source.emit('error', error);
      advance(300);
    }
    expect(health.outage).toBe(true);
    client.emit('ready');
    expect(lines.map((l) => l.msg)).toEqual(['redis connection lost; retrying (logged again when it is restored)']);
    queue.backend.emit('ready');
    expect(health.outage).toBe(false);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, component: 'redis', error: { code: 'ECONNREFUSED' } });
    expect(lines[1]).toMatchObject({ level: 30, failed_attempts: 10, down_s: 3, msg: 'redis connection restored after 10 failed attempts, 3 s' });
    expect(JSON.stringify(lines)).not.toContain('stack');
  });

  it('logs errors that are not about the connection one by one, with their stack', () => {
    const { lines, health } = setUp();
    const client = new EventEmitter();
    health.watch('redis', client);
    client.emit('error', new Error('ERR Error running script'));
    client.emit('error', new Error('ERR Error running script'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 50, component: 'redis', msg: 'redis error', err: { message: 'ERR Error running script' } });
    expect(health.outage).toBe(false);
  });

  it('ignores a ready without an outage, and counts a second outage from scratch', () => {
    const { lines, health } = setUp();
    const client = new EventEmitter();
    health.watch('redis', client);
    client.emit('ready');
    for (const outage of [3, 2]) {
      for (let i = 0; i < outage; i++) client.emit('error', refused());
      client.emit('ready');
    }
    expect(lines.map((l) => l.failed_attempts).filter((n) => n !== undefined)).toEqual([3, 2]);
    expect(lines).toHaveLength(4);
  });
});

/** An ioredis client: its `status` is 'ready' while connected. */
function ioredisLike(status: string) {
  return Object.assign(new EventEmitter(), { status });
}

const nextChecks = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('ConnectionHealth and errors seen while the status still says ready', () => {
  it('counts the first error of an outage that arrives before the connection says it closed', async () => {
    const { lines, health } = setUp();
    const client = ioredisLike('ready');
    health.watch('redis', client);
    client.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    // 'close' follows at once; ioredis then reconnects, and in a short outage the first attempt succeeds.
    client.status = 'reconnecting';
    await nextChecks();
    expect(health.outage).toBe(true);
    client.status = 'ready';
    client.emit('ready');
    expect(lines.map((l) => l.msg)).toEqual(['redis connection lost; retrying (logged again when it is restored)', expect.stringMatching(/^redis connection restored after 1 failed attempts/)]);
  });

  it('logs an outage whose connection closed and came back before any attempt failed', () => {
    const { lines, health } = setUp();
    const client = ioredisLike('reconnecting');
    health.watch('redis', client);
    client.emit('reconnecting');
    expect(health.outage).toBe(true);
    client.emit('ready');
    expect(lines.map((l) => l.msg)).toEqual(['redis connection lost; retrying (logged again when it is restored)', expect.stringMatching(/^redis connection restored after 1 failed attempts/)]);
    expect(lines[0]).toMatchObject({ level: 40, error: { message: 'connection closed; reconnecting' } });
  });

  it('ignores an error reported late, once the connection is ready again', async () => {
    const { lines, health } = setUp();
    const client = ioredisLike('ready');
    health.watch('redis', client);
    client.emit('error', refused());
    await nextChecks();
    expect(health.outage).toBe(false);
    expect(lines).toEqual([]);
  });
});

describe('isRedisUnavailableError', () => {
  it('tells an unreachable or silent Redis from a failed command', () => {
    const maxRetries = Object.defineProperty(new Error('Reached the max retries per request limit'), 'name', { value: 'MaxRetriesPerRequestError' });
    for (const error of [
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Command timed out'),
      new Error('Connection is closed.'),
      maxRetries,
      refused(),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new Error('could not submit', { cause: new Error('Command timed out') }),
    ]) {
      expect(isRedisUnavailableError(error), error.message).toBe(true);
    }
    for (const error of [new Error('ERR unknown command'), new Error('WRONGTYPE Operation against a key'), 'Command timed out', null]) {
      expect(isRedisUnavailableError(error)).toBe(false);
    }
  });
});
