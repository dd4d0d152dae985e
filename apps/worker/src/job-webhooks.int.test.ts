/**
 * job.started / job.completed through real inference jobs: InferenceJobs
 * submits, a BullMQ worker runs the real inference processor (with a stand-in
 * model) and emits events as main.ts wires it, the delivery worker POSTs them
 * to a real receiver. Bodies must equal what GET /v1/jobs/:id returns.
 */
import { Worker } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PIXELS_PER_IMAGE, QUEUE_NAMES, jobWebhookPayloadSchema, type InferenceJobData, type InferenceResult, type JobWebhookPayload, type WebhookEvent } from '@digitq/contracts';
import { CancelRequests, InferenceJobs, JobWaiter, createQueue, createQueueEvents, inferenceJobEvents } from '@digitq/jobs';
import type { DigitPrediction } from '@digitq/model';
import { deliverJobWebhooks } from '@digitq/webhooks';
import { logEventError } from './consumers/context.ts';
import { answer, startTestReceiver, type ReceivedRequest, type TestReceiver } from '@digitq/webhooks/test-receiver';
import { ModelNotFoundError } from './model-store.ts';
import { createInferenceProcessor, type InferenceProcessorDeps } from './processors/inference.processor.ts';
import { RESULT_TTL_S, createWebhookTestStack, waitUntil, type WebhookTestStack } from '../test/webhook-stack.ts';

const OWNER = 'tester';
const SETTLE_MS = 400;

let stack: WebhookTestStack;
let receiver: TestReceiver;
let jobs: InferenceJobs;
let closeInference: () => Promise<void>;
let startInferenceWorker: (classify: InferenceProcessorDeps['classify']) => Promise<void>;

beforeEach(async () => {
  stack = await createWebhookTestStack('job-webhooks');
  receiver = await startTestReceiver(answer.status(204));
  await stack.startDeliveryWorker();
  const { redis, prefix, log } = stack;
  const queue = createQueue(QUEUE_NAMES.inference, redis, prefix, { resultTtlS: RESULT_TTL_S, maxCount: 1000 });
  const events = createQueueEvents(QUEUE_NAMES.inference, redis, prefix);
  await events.waitUntilReady();
  const cancelRequests = new CancelRequests(redis, prefix, QUEUE_NAMES.inference, RESULT_TTL_S);
  jobs = new InferenceJobs({ queue, redis, prefix, cancelRequests, waiter: new JobWaiter(events), resultTtlS: RESULT_TTL_S, defaultModel: 'digitnet' });
  const workers: Worker[] = [];
  startInferenceWorker = async (classify) => {
    const processor = createInferenceProcessor({ classify, cancelRequests, workerId: 'test-worker', log });
    const worker = new Worker<InferenceJobData, InferenceResult>(QUEUE_NAMES.inference, processor, { connection: redis, prefix });
    deliverJobWebhooks(inferenceJobEvents({ cancelRequests, defaultModel: 'digitnet', onError: logEventError(log) }).watch(worker), { ...stack.events, log });
    workers.push(worker);
    await worker.waitUntilReady();
  };
  closeInference = async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
  };
});
afterEach(async () => {
  await closeInference();
  await stack.close();
  await receiver.close();
});

function prediction(digit: number): DigitPrediction {
  const probabilities = Array.from({ length: 10 }, (_, d) => (d === digit ? 0.91 : 0.01));
  return { prediction: digit, confidence: 0.91, probabilities };
}

const classifyAsSeven: InferenceProcessorDeps['classify'] = async (_ref, images) => ({
  predictions: images.map(() => prediction(7)),
  model: { name: 'digitnet', version: 'v3' },
  batchSize: images.length,
  computeMs: 1,
});

async function submit(events: WebhookEvent[] | null): Promise<string> {
  const view = await jobs.submit({
    images: [new Uint8Array(PIXELS_PER_IMAGE)],
    model: null,
    owner: OWNER,
    webhook: events ? { url: receiver.url(), events } : null,
  });
  return view.id;
}

function payloadOf(request: ReceivedRequest): JobWebhookPayload {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
  return jobWebhookPayloadSchema.parse(new Webhook(stack.secrets[0]!).verify(request.body, headers));
}

async function delivered(count: number): Promise<JobWebhookPayload[]> {
  const requests = await receiver.waitForRequests(count);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  expect(receiver.requests).toHaveLength(count);
  return requests.map(payloadOf);
}

describe('job webhooks from the inference worker', () => {
  it('sends job.started and job.completed when both are asked for; job.completed carries the job as GET returns it', async () => {
    await startInferenceWorker(classifyAsSeven);
    const id = await submit(['job.started', 'job.completed']);
    const payloads = await delivered(2);
    const byType = Object.fromEntries(payloads.map((p) => [p.type, p]));

    expect(byType['job.started']!.data).toMatchObject({ id, status: 'processing', output: null, completed_at: null });
    expect(byType['job.started']!.data.started_at).not.toBeNull();
    const completed = byType['job.completed']!.data;
    expect(completed).toEqual(await jobs.get(id, OWNER));
    expect(completed).toMatchObject({ status: 'succeeded', model: { name: 'digitnet', version: 'v3' }, attempts: 1, error: null });
    expect(completed.output?.predictions[0]?.prediction).toBe(7);

    const log = await waitUntil(() => stack.deliveries.list(id), (entries) => entries.length === 2);
    expect(log.map((a) => [a.event, a.outcome]).sort()).toEqual([
      ['job.completed', 'delivered'],
      ['job.started', 'delivered'],
    ]);
  });

  it('sends only job.completed by default (job.started only when asked), and nothing without a webhook', async () => {
    await startInferenceWorker(classifyAsSeven);
    const silent = await submit(null);
    const id = await submit(['job.completed']);
    const [payload] = await delivered(1);
    expect(payload).toMatchObject({ type: 'job.completed', data: { id, status: 'succeeded' } });
    expect(await jobs.get(silent, OWNER)).toMatchObject({ status: 'succeeded' });
  });

  it('reports a failed job once, after its last attempt, with the job error', async () => {
    await startInferenceWorker(async () => {
      throw new ModelNotFoundError('no model digitnet@v9');
    });
    const id = await submit(['job.completed']);
    const [payload] = await delivered(1);
    expect(payload!.data).toEqual(await jobs.get(id, OWNER));
    expect(payload!.data).toMatchObject({ status: 'failed', error: { code: 'MODEL_NOT_FOUND', message: 'no model digitnet@v9' } });
  });

  it('does not report a failed attempt that will be retried; only the final outcome', async () => {
    let calls = 0;
    await startInferenceWorker(async (ref, images) => {
      calls++;
      if (calls === 1) throw new Error('backend hiccup');
      return classifyAsSeven(ref, images);
    });
    const id = await submit(['job.completed']);
    const [payload] = await delivered(1);
    expect(payload!.data).toMatchObject({ id, status: 'succeeded', attempts: 2 });
  });

  it('reports a job canceled while queued as completed with status canceled, and never as started', async () => {
    const id = await submit(['job.started', 'job.completed']);
    await jobs.cancel(id, OWNER);
    await startInferenceWorker(classifyAsSeven);
    const [payload] = await delivered(1);
    expect(payload!.type).toBe('job.completed');
    expect(payload!.data).toMatchObject({ id, status: 'canceled', error: { code: 'JOB_CANCELED' }, output: null });
    expect(payload!.data).toEqual(await jobs.get(id, OWNER));
  });
});
