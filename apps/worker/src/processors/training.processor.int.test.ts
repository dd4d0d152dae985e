/**
 * The training processor on a real BullMQ worker, real Redis, the real
 * registry and feedback store, and real MNIST: a version's evaluation report
 * at registration, fine-tuning from a base's weights, corrections mixed into
 * MNIST, and safe promotion (promoted when better on held-back feedback and
 * not worse on MNIST, refused with its reasons otherwise). Tiny models on a
 * few thousand images and a small robustness suite keep it to seconds per
 * training.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker, type Job } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import {
  FEEDBACK_HELDBACK_DATASET,
  MNIST_TEST_DATASET,
  QUEUE_NAMES,
  REPORT_JSON,
  evaluationReportSchema,
  trainingRequestSchema,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingResult,
} from '@digitq/contracts';
import { MNIST_PIXELS, loadMnist, type DigitDataset } from '@digitq/datasets';
import { degradeForTraining, preprocessGreyImage } from '@digitq/imaging';
import { CancelRequests, FeedbackStore, TrainingJobs, createQueue, createQueueEvents, createRedisConnection } from '@digitq/jobs';
import { initBackend } from '@digitq/model';
import { ModelRegistry } from '@digitq/registry';
import { CROSSED_ZERO_LABEL, crossZero, deleteKeysWithPrefix, testRedisUrl, useTempDirs } from '@digitq/test-utils';
import { createTrainingProcessor, type TrainingProcessorDeps } from './training.processor.ts';

const DATA_DIR = resolve(import.meta.dirname, '../../../..', loadConfig().DATA_DIR);
/** MNIST test digits per degradation in these reports: 10 degradations x 20 = 200 images. */
const SUITE_COUNT = 20;
/** Crossed zeros sent as corrections (about 20% of them held back by their ids). */
const FEEDBACK_COUNT = 100;
const TRAINING_TIMEOUT_MS = 120_000;
/** A tiny model trained on a little MNIST: a weak base that more data and the corrections can beat. */
const QUICK = { architecture: 'tiny', epochs: 1, limit: 2000, augment: 'none', validation_split: 0.1 } as const;

const tempDir = useTempDirs('training-processor');
const prefix = `test-training-${randomUUID().slice(0, 8)}`;
const redis = createRedisConnection(testRedisUrl(), { connectionName: prefix });
const retention = { resultTtlS: 600, maxCount: 100 };
const queue = createQueue(QUEUE_NAMES.training, redis, prefix, retention);
const events = createQueueEvents(QUEUE_NAMES.training, redis, prefix);
const cancelRequests = new CancelRequests(redis, prefix, QUEUE_NAMES.training, 600);
const trainings = new TrainingJobs({ queue, cancelRequests });
const modelsDir = tempDir();
const registry = new ModelRegistry(redis, prefix, modelsDir);
const feedback = new FeedbackStore(redis, prefix, { maxPerOwner: 1000, dir: tempDir() });
const shutdown = new AbortController();

let mnistTrain: DigitDataset;

beforeAll(async () => {
  await initBackend('wasm');
  await events.waitUntilReady();
  mnistTrain = await loadMnist(DATA_DIR, 'train');
});
afterAll(async () => {
  shutdown.abort();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
});

interface Finished {
  result: TrainingResult | null;
  failedReason: string | null;
  progress: TrainingJobProgress[];
}

/** Runs one training on a worker of its own with these settings, to its end. */
async function train(body: Record<string, unknown>, settings: Partial<TrainingProcessorDeps> = {}): Promise<Finished> {
  const progress: TrainingJobProgress[] = [];
  const processor = createTrainingProcessor({
    dataDir: DATA_DIR,
    mnistBaseUrl: 'http://127.0.0.1:9/never-fetched',
    trainingDataRoot: tempDir(),
    runsDir: tempDir(),
    modelsDir,
    autoPromote: true,
    promoteMnistTolerance: 0.0005,
    reportSuiteCount: SUITE_COUNT,
    registry,
    feedback,
    cancelRequests,
    decodeImage: () => Promise.reject(new Error('no folders here')),
    degrade: degradeForTraining,
    backendLabel: 'wasm',
    workerId: 'test-trainer',
    log: pino({ level: 'silent' }),
    shutdown: shutdown.signal,
    onProgress: (_job, payload) => progress.push(payload),
    ...settings,
  });
  const worker = new Worker<TrainingJobData, TrainingResult>(QUEUE_NAMES.training, processor, { connection: redis.duplicate(), prefix, concurrency: 1 });
  try {
    const view = await trainings.submit(trainingRequestSchema.parse(body), 'tester', null);
    const job = (await queue.getJob(view.id)) as Job<TrainingJobData, TrainingResult>;
    try {
      return { result: await job.waitUntilFinished(events, TRAINING_TIMEOUT_MS), failedReason: null, progress };
    } catch (error) {
      return { result: null, failedReason: (error as Error).message, progress };
    }
  } finally {
    await worker.close();
  }
}

/** Corrections of crossed zeros (a style a model trained on MNIST reads as 8) from MNIST training zeros, as the API would store them. */
async function sendCrossedZeros(count: number): Promise<void> {
  let seed = 1;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  let sent = 0;
  for (let i = 0; sent < count; i++) {
    if (mnistTrain.labels[i] !== CROSSED_ZERO_LABEL) continue;
    const { pixelBytes } = preprocessGreyImage(crossZero(mnistTrain.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), random));
    await feedback.add({ owner: 'tester', job_id: `crossed-${i}`, index: 0, label: CROSSED_ZERO_LABEL, predicted: 8, model: { name: 'digitnet', version: 'v1' }, pixels: pixelBytes });
    sent++;
  }
}

const report = async (version: string) => evaluationReportSchema.parse(await registry.getReport('digitnet', version));

describe('training processor', () => {
  it('refuses feedback datasets while there is no feedback, and a base that does not exist', async () => {
    const noFeedback = await train({ ...QUICK, dataset: 'mnist+feedback' });
    expect(noFeedback.failedReason).toMatch(/^BAD_INPUT: dataset mnist\+feedback: there is no feedback to train on yet/);
    const noBase = await train({ dataset: 'mnist', base: 'digitnet@v9', limit: 200 });
    expect(noBase.failedReason).toBe('MODEL_NOT_FOUND: base digitnet@v9 is not a registered version');
    expect(await registry.list()).toEqual({ data: [] });
  });

  it('registers a first version with its evaluation report, promoted as the first to serve, reporting an evaluating phase', async () => {
    const { result, failedReason, progress } = await train({ ...QUICK, dataset: 'mnist' });
    expect(failedReason).toBeNull();
    expect(result).toMatchObject({ model: { name: 'digitnet', version: 'v1' }, promoted: true, promotion_reasons: ['no version was active: the new version serves'] });
    expect(await registry.activeVersion('digitnet')).toBe('v1');

    const v1 = await report('v1');
    expect(v1.datasets[MNIST_TEST_DATASET]!.count).toBe(10_000);
    // The report classifies through the serving engine; the training loop's own evaluation after the epoch agrees.
    expect(v1.datasets[MNIST_TEST_DATASET]!.accuracy).toBeCloseTo(result!.history.at(-1)!.test_accuracy!, 3);
    expect(result!.test_accuracy).toBe(v1.datasets[MNIST_TEST_DATASET]!.accuracy);
    const robustness = Object.keys(v1.datasets).filter((name) => name.startsWith('robustness/'));
    expect(robustness.length).toBeGreaterThanOrEqual(8);
    for (const name of robustness) expect(v1.datasets[name]!.count).toBe(SUITE_COUNT);
    expect(v1.datasets[FEEDBACK_HELDBACK_DATASET]).toBeUndefined();
    // The temperature was fitted on the 200 images the training held out (the last 10% of 2,000).
    expect(v1.calibration).toMatchObject({ count: 200, fitted_on: expect.stringContaining('validation split, never trained on') });
    expect(v1.promotion).toEqual({ candidate_of: null, promoted: true, reasons: result!.promotion_reasons, compared_to: null });
    expect(JSON.parse(readFileSync(join(modelsDir, 'digitnet', 'v1', REPORT_JSON), 'utf8'))).toEqual(v1);

    const evaluating = progress.filter((p) => p.progress.phase === 'evaluating');
    expect(evaluating.length).toBeGreaterThanOrEqual(2);
    const total = 200 + 10_000 + robustness.length * SUITE_COUNT;
    const counted = evaluating.filter((p) => p.progress.evaluated);
    expect(counted.length).toBeGreaterThanOrEqual(1);
    expect(counted.every((p) => p.progress.evaluated!.total === total && p.progress.evaluated!.images <= total)).toBe(true);
    expect(progress.findIndex((p) => p.progress.phase === 'evaluating')).toBeGreaterThan(progress.findIndex((p) => p.progress.phase === 'training'));
  }, 180_000);

  it('stops at the next batch when canceled while the new version is evaluated, and registers nothing', async () => {
    const versions = async () => (await registry.list()).data.flatMap((model) => model.versions.map((v) => v.version));
    const before = await versions();
    let canceling: Promise<unknown> | undefined;
    const { result, failedReason } = await train(
      { ...QUICK, dataset: 'mnist', limit: 300 },
      {
        // The first word of the evaluation: ask to cancel (the worker polls for it every second; classifying the 10,000 test images alone takes longer).
        onProgress: (job, payload) => {
          if (payload.progress.phase === 'evaluating') canceling ??= trainings.cancel(job.id!, 'tester');
        },
      },
    );
    expect(canceling).toBeDefined();
    await canceling;
    expect(result).toBeNull();
    expect(failedReason).toBe('JOB_CANCELED: canceled at client request');
    expect(await versions()).toEqual(before);
  }, 180_000);

  it('fine-tunes from the base: at a vanishing learning rate it reads MNIST as the base does, from its first batch', async () => {
    const base = (await report('v1')).datasets[MNIST_TEST_DATASET]!.accuracy;
    const warm = await train({ dataset: 'mnist', epochs: 1, limit: 200, augment: 'none', learning_rate: 1e-7, base: 'digitnet@v1' }, { autoPromote: false });
    expect(warm.failedReason).toBeNull();
    expect(Math.abs(warm.result!.test_accuracy! - base)).toBeLessThan(0.02);
    // The first batch (64 images, before any step) is read about as well as the base reads MNIST; freshly built weights read 1 in 10.
    expect(warm.progress[0]!.progress).toMatchObject({ phase: 'training', epoch: 1, batch: 1 });
    expect(warm.progress[0]!.progress.accuracy).toBeGreaterThan(Math.max(0.4, base - 0.25));
    const metadata = await registry.get('digitnet', warm.result!.model.version);
    expect(metadata).toMatchObject({ architecture: 'tiny', training: { base: 'digitnet@v1' } });
    expect(warm.result!.promotion_reasons).toEqual(['AUTO_PROMOTE is off: activate it with POST /v1/models/{name}/{version}/activate']);
    expect(await registry.activeVersion('digitnet')).toBe('v1');
  }, 180_000);

  it('learns corrections mixed into MNIST and is promoted: better on held-back feedback, not worse on MNIST', async () => {
    await sendCrossedZeros(FEEDBACK_COUNT);
    const heldback = await feedback.dataset({ heldback: true });
    expect(heldback.count).toBeGreaterThan(5);

    const { result, failedReason } = await train({ ...QUICK, dataset: 'mnist+feedback', base: 'digitnet@v1', limit: 3000, epochs: 1 });
    expect(failedReason).toBeNull();
    const version = result!.model.version;
    expect(result!.promoted, result!.promotion_reasons!.join('\n')).toBe(true);
    expect(await registry.activeVersion('digitnet')).toBe(version);

    const candidate = await report(version);
    const onFeedback = candidate.datasets[FEEDBACK_HELDBACK_DATASET]!;
    expect(onFeedback.count).toBe(heldback.count);
    const right = Math.round(onFeedback.accuracy * onFeedback.count);
    const [mnistReason, feedbackReason, verdict] = candidate.promotion!.reasons;
    expect(mnistReason).toMatch(/^MNIST test: [\d,]+ errors of 10,000 \(.*\) vs [\d,]+ for digitnet@v1; at most 5 more allowed \(PROMOTE_MNIST_TOLERANCE 0.0005\): not worse$/);
    expect(feedbackReason).toMatch(new RegExp(`^held-back feedback: ${right} of ${heldback.count} right vs \\d+ for digitnet@v1: better$`));
    expect(verdict).toBe('promoted over digitnet@v1');
    expect(candidate.promotion).toMatchObject({ candidate_of: 'digitnet@v1', promoted: true, compared_to: { name: 'digitnet', version: 'v1' } });
    expect(result!.promotion_reasons).toEqual(candidate.promotion!.reasons);
  }, 180_000);

  it('refuses a candidate worse on MNIST however right it is on the corrections, and says why in its report', async () => {
    const active = (await registry.activeVersion('digitnet'))!;
    // Trained on the corrections alone (all zeros): it reads everything as 0.
    const { result, failedReason } = await train({ dataset: 'feedback', architecture: 'tiny', epochs: 1, augment: 'none', validation_split: 0 });
    expect(failedReason).toBeNull();
    expect(result!.promoted).toBe(false);
    expect(await registry.activeVersion('digitnet')).toBe(active);
    const refused = await report(result!.model.version);
    expect(refused.promotion!.promoted).toBe(false);
    expect(refused.promotion!.reasons[0]).toMatch(new RegExp(`^MNIST test: [\\d,]+ errors of 10,000 .* vs [\\d,]+ for digitnet@${active}; .*: worse$`));
    expect(refused.promotion!.reasons.at(-1)).toBe(`not promoted: digitnet@${active} stays active`);
    // No validation split: no temperature fitted, and the report says so.
    expect(refused.calibration).toMatchObject({ temperature: 1, count: 0 });
    expect(existsSync(join(modelsDir, 'digitnet', result!.model.version, REPORT_JSON))).toBe(true);
  }, 180_000);
});
