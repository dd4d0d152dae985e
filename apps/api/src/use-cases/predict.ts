/**
 * One image in, its digit out, synchronously. It is a job like any other
 * (submitted, then waited for), so a slow answer can still be read later
 * from the job: TIMEOUT carries its id.
 */
import { AppError, parseFailedReason, type InferenceResult, type JobView, type PredictInclude, type PredictResponse } from '@digitq/contracts';
import type { IntakeDeps } from './deps.ts';
import { jobPath } from './paths.ts';
import { preprocessAll, type NamedImage } from './preprocess.ts';

/** A validated predict request (intake/requests.ts). */
export interface PredictRequest {
  image: NamedImage;
  /** Name or name@version; null: the active version of the default model. */
  model: string | null;
  /** Extra parts of the answer (the input the model saw, the explanation, the engine); none by default. */
  include?: readonly PredictInclude[];
  /** Below this top probability the answer is `prediction: null, reason: "uncertain"`; null or absent: the worker's MIN_CONFIDENCE. */
  minConfidence?: number | null;
}

export interface PredictInput extends PredictRequest {
  owner: string;
}

/**
 * The job waited on ran and failed. Its own error code (any string a worker
 * failed it with, e.g. IMAGE_CORRUPT or MODEL_CRASHED) and message are the
 * answer, with the job's id.
 */
export class JobFailedError extends Error {
  constructor(
    readonly jobId: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JobFailedError';
  }
}

/** The prediction of a job that was waited on; its failure as JobFailedError; TIMEOUT when it is not done yet. */
function outcome(view: JobView, timeoutMs: number): PredictResponse {
  const prediction = view.output?.predictions[0];
  if (view.status === 'succeeded' && prediction && view.model?.version) {
    return { ...prediction, model: { name: view.model.name, version: view.model.version }, job_id: view.id };
  }
  if (view.status === 'failed' || view.status === 'canceled') {
    const error = view.error ?? { code: 'JOB_FAILED', message: 'the job failed' };
    throw new JobFailedError(view.id, error.code, error.message);
  }
  if (view.status === 'succeeded') throw new Error(`job ${view.id} succeeded without a prediction and model version`);
  throw new AppError('TIMEOUT', `job ${view.id} did not finish within ${timeoutMs} ms; it is still ${view.status}, see ${jobPath(view.id)}`, { jobId: view.id });
}

/** The parts asked for with `include`: the pixels from the API's own preprocessing, the rest from the worker's result. */
function included(include: readonly PredictInclude[], pixels: Uint8Array, result: InferenceResult): Partial<PredictResponse> {
  return {
    ...(include.includes('input') ? { input: Array.from(pixels) } : {}),
    ...(include.includes('explanation') && result.explanation ? { explanation: result.explanation } : {}),
    ...(include.includes('engine') && result.engine ? { engine: result.engine } : {}),
  };
}

/**
 * Preprocesses the image, submits a one-image job and waits up to
 * PREDICT_TIMEOUT_MS for its answer. The answer comes from the job's
 * finishing event, which carries the result: the job is read back only when
 * the wait ended otherwise (canceled, timed out).
 */
export async function predictDigit(input: PredictInput, deps: Pick<IntakeDeps, 'jobs' | 'preprocess' | 'predictTimeoutMs'>): Promise<PredictResponse> {
  const images = await preprocessAll([input.image], deps.preprocess);
  const include = input.include ?? [];
  // The engine is named by the worker that ran the job, so it is asked for like the explanation.
  const explain = include.includes('explanation') || include.includes('engine');
  const { job, outcome: ended } = await deps.jobs.submitAndWait({ images, model: input.model, owner: input.owner, webhook: null, ...(explain ? { explain } : {}), ...(input.minConfidence != null ? { minConfidence: input.minConfidence } : {}) }, deps.predictTimeoutMs);
  const result = ended?.status === 'completed' ? (ended.returnvalue as InferenceResult | null) : null;
  const prediction = result?.predictions[0];
  if (result && prediction) return { ...prediction, model: result.model, job_id: job.id, ...included(include, images[0]!, result) };
  if (ended?.status === 'failed') {
    const { code, message } = parseFailedReason(ended.failedReason);
    throw new JobFailedError(job.id, code, message);
  }
  const view = (await deps.jobs.get(job.id, input.owner)) ?? job;
  return outcome(view, deps.predictTimeoutMs);
}
