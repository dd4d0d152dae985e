/**
 * One trace from HTTP request to webhook delivery, in one process so one
 * in-memory exporter sees every span: the real API app (createApp, real
 * Redis), a real BullMQ worker running the real inference processor through
 * the real micro-batcher (a stand-in forward pass instead of a model), its
 * job events feeding webhooks as the inference consumer wires them, and the
 * real delivery worker POSTing to a loopback receiver. Tracing is set up by
 * startTelemetry, as main.ts does, with the exporter swapped for memory.
 */
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { Worker } from 'bullmq';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAMES, type InferenceJobData, type InferenceResult } from '@digitq/contracts';
import { CancelRequests, inferenceJobEvents, queueTelemetry } from '@digitq/jobs';
import { startTelemetry, type Telemetry } from '@digitq/service';
import { deliverJobWebhooks } from '@digitq/webhooks';
import { answer, startTestReceiver, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { createTestStack, fixtures, type TestStack } from '../../apps/api/test/api-stack.ts';
import { logEventError } from '../../apps/worker/src/consumers/context.ts';
import { BATCH_SPAN_NAME, MicroBatcher } from '../../apps/worker/src/micro-batcher.ts';
import { createInferenceProcessor } from '../../apps/worker/src/processors/inference.processor.ts';
import { createWebhookTestStack, waitUntil, type WebhookTestStack } from '../../apps/worker/test/webhook-stack.ts';

/** The caller's trace (a W3C traceparent), which the API continues. */
const CALLER_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`;
/** The first test's lone job runs after this; the second's two jobs run together once both are in (size 2), whatever their timing. */
const BATCH_DELAY_MS = 20;
const HOLD_FOR_PAIR_MS = 30_000;
/** The worker takes this many jobs at once, so jobs can wait together for a batch. */
const JOBS_AT_ONCE = 8;

type Prediction = { prediction: number; confidence: number; probabilities: number[] };
function stubBatcher(maxSize: number, maxDelayMs: number): MicroBatcher<Uint8Array, Prediction> {
  return new MicroBatcher<Uint8Array, Prediction>({
    maxSize,
    maxDelayMs,
    run: async (items) => items.map(() => ({ prediction: 3, confidence: 0.91, probabilities: Array.from({ length: 10 }, (_, d) => (d === 3 ? 0.91 : 0.01)) })),
    spanAttributes: { 'digitq.model': 'digitnet', 'digitq.model.version': 'v1' },
  });
}

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let api: TestStack;
let webhooks: WebhookTestStack;
let receiver: TestReceiver;
let worker: Worker<InferenceJobData, InferenceResult>;
let batcher = stubBatcher(8, BATCH_DELAY_MS);

beforeAll(async () => {
  telemetry = startTelemetry('digitq-test', { OTEL_TRACES_SAMPLE_RATIO: 1 }, { exporter });
  api = await createTestStack();
  webhooks = await createWebhookTestStack('tracing');
  await webhooks.startDeliveryWorker();
  receiver = await startTestReceiver(answer.status(204));

  const cancelRequests = new CancelRequests(api.redis, api.prefix, QUEUE_NAMES.inference, 600);
  const processor = createInferenceProcessor({
    cancelRequests,
    workerId: 'tracing-worker',
    log: webhooks.log,
    classify: async (_ref, images, signal) => {
      const { results, batchSize } = await batcher.submit(images, signal);
      return { predictions: results, model: { name: 'digitnet', version: 'v1' }, batchSize, computeMs: 0 };
    },
  });
  worker = new Worker(QUEUE_NAMES.inference, processor, { connection: api.redis, prefix: api.prefix, telemetry: queueTelemetry(), concurrency: JOBS_AT_ONCE });
  deliverJobWebhooks(inferenceJobEvents({ cancelRequests, defaultModel: 'digitnet', onError: logEventError(webhooks.log) }).watch(worker), { ...webhooks.events, log: webhooks.log });
  await worker.waitUntilReady();
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await webhooks?.close();
  await receiver?.close();
  await telemetry?.shutdown();
});

function only(spans: readonly ReadableSpan[], what: string, match: (span: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter(match);
  expect(found.map((s) => s.name), what).toHaveLength(1);
  return found[0]!;
}

/** Flushes and reads the exported spans until `done` holds for them. */
async function exportedUntil(done: (spans: readonly ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
  const names = await waitUntil(
    async () => {
      await telemetry.flush();
      return exporter.getFinishedSpans().map((s) => s.name);
    },
    () => done(exporter.getFinishedSpans()),
  );
  expect(names.length).toBeGreaterThan(0);
  return exporter.getFinishedSpans();
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;

describe('tracing', () => {
  it('makes one trace of the request, its submit, the job, its batch and its webhook delivery', async () => {
    const image = (await fixtures.digit(3)).toString('base64');
    const res = await request(api.app).post('/v1/jobs').set('traceparent', TRACEPARENT).send({ images: [image], webhook: receiver.url() });
    expect(res.status).toBe(202);
    await receiver.waitForRequests(1);

    // The delivery's consumer span ends after the receiver answered: flush until it is exported.
    const spans = await exportedUntil((all) => all.some((s) => s.name === `process ${QUEUE_NAMES.webhooks}`));
    const trace = spans.filter((s) => s.spanContext().traceId === CALLER_TRACE_ID);

    const server = only(trace, 'HTTP server span', (s) => s.kind === SpanKind.SERVER);
    expect(server.name).toBe('POST /v1/jobs');
    expect(server.attributes).toMatchObject({ 'http.route': '/v1/jobs', 'http.response.status_code': 202 });
    expect(parentOf(server)).toBe(CALLER_SPAN_ID);

    const submit = only(trace, 'submit (producer) span', (s) => s.kind === SpanKind.PRODUCER && s.name.startsWith(`add ${QUEUE_NAMES.inference}.`));
    expect(parentOf(submit)).toBe(idOf(server));

    const job = only(trace, 'job (consumer) span', (s) => s.kind === SpanKind.CONSUMER && s.name === `process ${QUEUE_NAMES.inference}`);
    expect(parentOf(job)).toBe(idOf(submit));
    expect(job.attributes['bullmq.job.id']).toBe(res.body.id);

    const batch = only(trace, 'batch span', (s) => s.name === BATCH_SPAN_NAME);
    expect(parentOf(batch)).toBe(idOf(job));
    expect(batch.links.map((l) => l.context.spanId)).toEqual([idOf(job)]);
    expect(batch.attributes).toMatchObject({ 'digitq.batch.images': 1, 'digitq.batch.requests': 1, 'digitq.model': 'digitnet', 'digitq.model.version': 'v1' });
    expect(job.events.find((e) => e.name === BATCH_SPAN_NAME)?.attributes).toMatchObject({ 'digitq.batch.span_id': idOf(batch) });

    const enqueueDelivery = only(trace, 'webhook enqueue (producer) span', (s) => s.kind === SpanKind.PRODUCER && s.name.startsWith(`add ${QUEUE_NAMES.webhooks}.`));
    expect(parentOf(enqueueDelivery)).toBe(idOf(job));
    const delivery = only(trace, 'webhook delivery (consumer) span', (s) => s.kind === SpanKind.CONSUMER && s.name === `process ${QUEUE_NAMES.webhooks}`);
    expect(parentOf(delivery)).toBe(idOf(enqueueDelivery));
    expect(delivery.resource.attributes['service.name']).toBe('digitq-test');
  });

  it('gives jobs that shared a batch one batch span, a child of the first and linked to each', async () => {
    exporter.reset();
    batcher = stubBatcher(2, HOLD_FOR_PAIR_MS);
    const image = (await fixtures.digit(5)).toString('base64');
    // Two traces; the first job is held until the second fills the batch.
    const traceparent = (n: number) => `00-${String(n).repeat(32)}-${CALLER_SPAN_ID}-01`;
    // One as JSON, one as multipart (whose body multer reads from the request stream's events).
    const [first, second] = await Promise.all([
      request(api.app).post('/v1/jobs').set('traceparent', traceparent(1)).send({ images: [image] }),
      request(api.app).post('/v1/jobs').set('traceparent', traceparent(2)).attach('image', await fixtures.digit(5), 'five.png'),
    ]);
    expect([first!.status, second!.status]).toEqual([202, 202]);
    const spans = await exportedUntil((all) => all.filter((s) => s.name === `process ${QUEUE_NAMES.inference}`).length === 2);
    const jobs = spans.filter((s) => s.name === `process ${QUEUE_NAMES.inference}`);
    const batches = spans.filter((s) => s.name === BATCH_SPAN_NAME);
    expect(batches).toHaveLength(1);
    const batch = batches[0]!;
    expect(batch.attributes).toMatchObject({ 'digitq.batch.images': 2, 'digitq.batch.requests': 2 });
    expect(new Set(batch.links.map((l) => l.context.spanId))).toEqual(new Set(jobs.map(idOf)));
    expect(jobs.map(idOf)).toContain(parentOf(batch));
    for (const job of jobs) expect(job.events.find((e) => e.name === BATCH_SPAN_NAME)?.attributes?.['digitq.batch.span_id']).toBe(idOf(batch));
    // Each job stays in its own caller's trace, under its submit and request.
    expect(new Set(jobs.map((j) => j.spanContext().traceId))).toEqual(new Set(['1'.repeat(32), '2'.repeat(32)]));
    for (const job of jobs) {
      const submit = spans.find((s) => idOf(s) === parentOf(job));
      const server = spans.find((s) => submit !== undefined && idOf(s) === parentOf(submit));
      expect(server).toMatchObject({ kind: SpanKind.SERVER, name: 'POST /v1/jobs' });
      expect(parentOf(server!)).toBe(CALLER_SPAN_ID);
    }
  });
});
