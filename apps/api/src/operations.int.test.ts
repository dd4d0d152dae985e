/** /metrics, GET /v1/workers, and request ids on every request log line. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, workerListSchema, type WorkerHeartbeat } from '@digitq/contracts';
import { publishWorkerHeartbeat } from '@digitq/jobs';
import { createTestStack, fixtures, type TestStack } from '../test/api-stack.ts';

let stack: TestStack;
afterEach(async () => {
  await stack.close();
});

function heartbeat(id: string, version: string): WorkerHeartbeat {
  const now = new Date().toISOString();
  return { id, hostname: 'h', pid: 1, device: 'cpu', backend: 'cpu', queues: ['inference', 'webhooks'], models: [{ name: 'digitnet', version }], started_at: now, at: now };
}

describe('GET /metrics', () => {
  it('labels HTTP metrics by route pattern and status, never the raw URL', async () => {
    stack = await createTestStack();
    const submitted = await request(stack.app).post('/v1/jobs').attach('image', await fixtures.digit(7), 'seven.png');
    expect(submitted.status).toBe(202);
    await request(stack.app).get(`/v1/jobs/${submitted.body.id}`);
    await request(stack.app).get('/v1/jobs/no-such-job');
    await request(stack.app).get('/nowhere/at/all');
    const res = await request(stack.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toContain('digitq_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1');
    expect(res.text).toContain('digitq_http_requests_total{method="GET",route="/v1/jobs/:id",status="200"} 1');
    expect(res.text).toContain('digitq_http_requests_total{method="GET",route="/v1/jobs/:id",status="404"} 1');
    expect(res.text).toContain('digitq_http_requests_total{method="GET",route="(unmatched)",status="404"} 1');
    expect(res.text).toMatch(/digitq_http_request_duration_seconds_bucket\{le="0\.005",method="POST",route="\/v1\/jobs",status="202"\}/);
    expect(res.text).not.toContain(submitted.body.id);
    expect(res.text).not.toContain('no-such-job');
  });

  it('exports queue depth per queue and state, live workers, the model versions they serve, and Redis status', async () => {
    stack = await createTestStack();
    await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'x', webhook: null });
    await stack.jobs.submit({ images: [new Uint8Array(PIXELS_PER_IMAGE)], model: null, owner: 'x', webhook: null, priority: 9 });
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat('a', 'v3'));
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat('b', 'v3'));
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat('c', 'v4'));
    const { text } = await request(stack.app).get('/metrics');
    expect(text).toContain('digitq_queue_jobs{queue="inference",state="prioritized"} 2');
    expect(text).toContain('digitq_queue_jobs{queue="inference",state="active"} 0');
    expect(text).toContain('digitq_queue_jobs{queue="training",state="waiting"} 0');
    expect(text).toContain('digitq_queue_jobs{queue="webhooks",state="failed"} 0');
    expect(text).toContain('digitq_workers_live{queue="inference"} 3');
    expect(text).toContain('digitq_workers_live{queue="training"} 0');
    expect(text).toContain('digitq_model_workers{model="digitnet",version="v3"} 2');
    expect(text).toContain('digitq_model_workers{model="digitnet",version="v4"} 1');
    expect(text).toContain('digitq_redis_up 1');
  });
});

describe('GET /v1/workers', () => {
  it('lists the live workers with their models', async () => {
    stack = await createTestStack();
    expect((await request(stack.app).get('/v1/workers')).body).toEqual({ data: [] });
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat('b', 'v3'));
    await publishWorkerHeartbeat(stack.redis, stack.prefix, heartbeat('a', 'v4'));
    const res = await request(stack.app).get('/v1/workers');
    expect(res.status).toBe(200);
    const list = workerListSchema.parse(res.body);
    expect(list.data.map((w) => [w.id, w.models[0]?.version])).toEqual([
      ['a', 'v4'],
      ['b', 'v3'],
    ]);
  });
});

describe('request log', () => {
  it('writes one JSON line per request carrying its request id and owner, including failures, and never a credential', async () => {
    stack = await createTestStack();
    const lines: Record<string, any>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, any>);
        done();
      },
    });
    const app = stack.appWith({
      logger: pino({ level: 'info' }, sink),
      preprocess: async () => {
        throw new Error('boom');
      },
    });
    const failed = await request(app).post('/v1/jobs').set('X-Request-Id', 'req-500').attach('image', await fixtures.digit(1), 'one.png');
    expect(failed.status).toBe(500);
    await request(app).get('/v1/jobs/missing').set('X-Request-Id', 'req-404');
    await request(app).get('/v1/jobs').set('X-Request-Id', 'req-200').set('Authorization', 'Bearer sk_secret_value_0123456789');
    await request(app).get('/metrics').set('X-Request-Id', 'req-metrics').auth('ops', 'a secret password');
    await request(app).get('/healthz').set('X-Request-Id', 'req-probe');
    const byId = new Map(lines.map((line) => [line.req?.id, line]));
    expect(byId.get('req-500')).toMatchObject({ level: 50, owner: 'anonymous', res: { statusCode: 500 }, err: { message: 'boom' } });
    expect(byId.get('req-404')).toMatchObject({ level: 40, owner: 'anonymous', res: { statusCode: 404 } });
    expect(byId.get('req-200')).toMatchObject({ level: 30, res: { statusCode: 200 }, req: { headers: { authorization: 'Bearer [redacted]' } } });
    // Probes and scrapes that succeed log at debug (below this logger's level).
    expect(byId.has('req-probe')).toBe(false);
    expect(byId.has('req-metrics')).toBe(false);
    expect(JSON.stringify(lines)).not.toContain('sk_secret_value');
    expect(lines.every((line) => typeof line.req?.id === 'string')).toBe(true);
  });
});
