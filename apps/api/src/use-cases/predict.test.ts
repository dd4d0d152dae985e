/** predictDigit without HTTP, Redis or a model: the use case alone, its collaborators stubbed. */
import { describe, expect, it } from 'vitest';
import { AppError, PIXELS_PER_IMAGE, type JobView } from '@digitq/contracts';
import type { InferenceJobs, JobOutcome } from '@digitq/jobs';
import type { PreprocessResult } from '@digitq/imaging';
import { JobFailedError, predictDigit } from './predict.ts';

const queued: JobView = {
  id: 'job-1',
  status: 'queued',
  created_at: '2025-01-15T10:30:00.000Z',
  started_at: null,
  completed_at: null,
  model: { name: 'digitnet', version: null },
  input: { count: 1 },
  output: null,
  error: null,
  attempts: 0,
};

/** Jobs that end as `ended` says (the finishing event's outcome), and read back as `readBack` when asked. */
function deps(ended: JobOutcome | undefined, readBack: JobView | null = null) {
  const submitted: unknown[] = [];
  const jobs = {
    submitAndWait: async (input: unknown) => {
      submitted.push(input);
      return { job: queued, outcome: ended };
    },
    get: async () => readBack,
  } as unknown as InferenceJobs;
  const pixelBytes = new Uint8Array(PIXELS_PER_IMAGE).fill(7);
  const preprocess = async (images: readonly Uint8Array[]) => images.map(() => ({ ok: true, digit: { pixelBytes } }) as unknown as PreprocessResult);
  return { deps: { jobs, preprocess, predictTimeoutMs: 300 }, submitted, pixelBytes };
}

const input = { owner: 'alice', image: { name: 'five.png', bytes: new Uint8Array([1, 2, 3]) }, model: null };

describe('predictDigit', () => {
  it("submits the image's pixel bytes as a one-image job and answers its prediction", async () => {
    const probabilities = Array.from({ length: 10 }, (_, d) => (d === 5 ? 0.91 : 0.01));
    const result = { predictions: [{ prediction: 5, confidence: 0.91, probabilities }], model: { name: 'digitnet', version: 'v3' }, batch_images: 4, worker: 'w1' };
    const { deps: d, submitted, pixelBytes } = deps({ status: 'completed', returnvalue: result });
    expect(await predictDigit(input, d)).toEqual({ prediction: 5, confidence: 0.91, probabilities, model: { name: 'digitnet', version: 'v3' }, job_id: 'job-1' });
    expect(submitted).toEqual([{ images: [pixelBytes], model: null, owner: 'alice', webhook: null }]);
  });

  it('is TIMEOUT naming the job (to read later) when it is not done in time', async () => {
    const error = await predictDigit(input, deps(undefined, queued).deps).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'TIMEOUT', details: { jobId: 'job-1' } });
    expect((error as Error).message).toBe('job job-1 did not finish within 300 ms; it is still queued, see /v1/jobs/job-1');
  });

  it("is the job's own failure when it failed", async () => {
    const ended: JobOutcome = { status: 'failed', failedReason: 'IMAGE_CORRUPT: the pixels could not be read' };
    await expect(predictDigit(input, deps(ended).deps)).rejects.toEqual(new JobFailedError('job-1', 'IMAGE_CORRUPT', 'the pixels could not be read'));
  });

  it('reads the job back when the wait ended without an outcome (a cancel), and answers what it shows', async () => {
    const canceled: JobView = { ...queued, status: 'canceled', error: { code: 'JOB_CANCELED', message: 'canceled at client request' } };
    await expect(predictDigit(input, deps(null, canceled).deps)).rejects.toEqual(new JobFailedError('job-1', 'JOB_CANCELED', 'canceled at client request'));
  });
});

describe('predictDigit with include', () => {
  it('adds the pixels the model saw, and asks the worker for the explanation and engine it returns', async () => {
    const probabilities = Array.from({ length: 10 }, (_, d) => (d === 5 ? 0.91 : 0.01));
    const explanation = Array.from({ length: PIXELS_PER_IMAGE }, (_, i) => (i === 400 ? 1 : 0));
    const result = { predictions: [{ prediction: 5, confidence: 0.91, probabilities }], model: { name: 'digitnet', version: 'v3' }, batch_images: 1, worker: 'w1', explanation, engine: 'tfjs (wasm)' };
    const { deps: d, submitted } = deps({ status: 'completed', returnvalue: result });
    const answer = await predictDigit({ ...input, include: ['input', 'explanation', 'engine'] }, d);
    expect(answer).toEqual({
      prediction: 5,
      confidence: 0.91,
      probabilities,
      model: { name: 'digitnet', version: 'v3' },
      job_id: 'job-1',
      input: Array.from({ length: PIXELS_PER_IMAGE }, () => 7),
      explanation,
      engine: 'tfjs (wasm)',
    });
    expect(submitted).toEqual([expect.objectContaining({ explain: true })]);
  });

  it('does not ask the worker to explain when only the input is wanted', async () => {
    const probabilities = Array.from({ length: 10 }, (_, d) => (d === 5 ? 0.91 : 0.01));
    const result = { predictions: [{ prediction: 5, confidence: 0.91, probabilities }], model: { name: 'digitnet', version: 'v3' }, batch_images: 1, worker: 'w1' };
    const { deps: d, submitted } = deps({ status: 'completed', returnvalue: result });
    const answer = await predictDigit({ ...input, include: ['input'] }, d);
    expect(answer.input).toHaveLength(PIXELS_PER_IMAGE);
    expect(answer.explanation).toBeUndefined();
    expect(submitted).toEqual([{ images: [expect.any(Uint8Array)], model: null, owner: 'alice', webhook: null }]);
  });
});
