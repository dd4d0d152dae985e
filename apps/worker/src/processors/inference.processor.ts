/**
 * Processes `classify-digits` jobs: validates the payload, honours cancel
 * requests and deadlines, and hands the images to the model's micro-batcher.
 * Collaborators come in as arguments so the processor is tested without a
 * real model.
 *
 * A job past its deadline at pickup never runs (`aborted`). While it waits in
 * a micro-batch, it is withdrawn from the batch and `canceled` when BullMQ's
 * signal aborts (the consumer cancels held jobs that got a cancel request,
 * see watchHeldCancels) or its deadline passes.
 *
 * An image whose top probability is below the job's `min_confidence` (else
 * MIN_CONFIDENCE) is answered without a digit (`prediction: null`, `reason:
 * "uncertain"`): decided here, in the result, so the job view, its events,
 * webhooks and POST /predict all say the same.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  JOB_ABORTED,
  JOB_CANCELED,
  decodePixels,
  msUntilDeadline,
  formatFailedReason,
  inferenceJobDataSchema,
  UNCERTAIN_REASON,
  type DigitPredictionResult,
  type InferenceJobData,
  type InferenceResult,
  type ModelInfo,
} from '@digitq/contracts';
import type { CancelRequests } from '@digitq/jobs';
import type { DigitPrediction } from '@digitq/model';
import { ModelNotFoundError } from '../model-store.ts';

/** What the model read for a job, before min_confidence: what shadow mode compares with. */
export interface Classified {
  predictions: DigitPrediction[];
  model: ModelInfo;
  /** Images in the forward pass that served the job (micro-batching). */
  batchSize: number;
  /** That forward pass's compute time, ms. */
  computeMs: number;
}

export interface InferenceProcessorDeps {
  /** Runs the images through the model's batcher (withdrawn from it when `signal` aborts first); resolves the model it used. */
  classify: (modelRef: string | null, images: Uint8Array[], signal?: AbortSignal) => Promise<Classified>;
  cancelRequests: CancelRequests;
  workerId: string;
  log: Logger;
  /** MIN_CONFIDENCE: the min_confidence of jobs that give none. Default 0: always a digit. */
  minConfidence?: number;
  onJobStart?: (job: Job) => void;
  /** Called with what the model read for a job (its images and predictions before min_confidence), before its result is returned. */
  onClassified?: (job: Job<InferenceJobData, InferenceResult>, images: Uint8Array[], classified: Classified) => void;
}

/** Said by the consumer when it cancels a held job through BullMQ's signal. */
export const CANCELED_AT_CLIENT_REQUEST = 'canceled at client request';

/** setTimeout's longest delay; a deadline further away gets no timer (a job is not held that long). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Aborts, with the UnrecoverableError the job then fails with, when
 * `canceled` does (BullMQ's signal; its string reason kept) or when
 * `deadlineMs` from now passes; `dispose` stops the timer.
 */
function withdrawSignal(canceled: AbortSignal | undefined, deadline: string | undefined, deadlineMs: number | null): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const cancel = (message: string) => controller.abort(new UnrecoverableError(formatFailedReason(JOB_CANCELED, message)));
  const onCancel = () => cancel(typeof canceled?.reason === 'string' ? canceled.reason : CANCELED_AT_CLIENT_REQUEST);
  canceled?.addEventListener('abort', onCancel, { once: true });
  const timer =
    deadlineMs !== null && deadlineMs < MAX_TIMER_MS
      ? setTimeout(() => cancel(`deadline ${deadline} passed while the job waited for its batch`), deadlineMs)
      : null;
  return {
    signal: controller.signal,
    dispose: () => {
      if (timer) clearTimeout(timer);
      canceled?.removeEventListener('abort', onCancel);
    },
  };
}

/** The prediction as answered: without a digit (`reason: "uncertain"`) when its top probability is below `minConfidence`. */
export function answerOf(prediction: DigitPrediction, minConfidence: number): DigitPredictionResult {
  const { confidence, probabilities } = prediction;
  if (confidence < minConfidence) return { prediction: null, confidence, probabilities, reason: UNCERTAIN_REASON };
  return { prediction: prediction.prediction, confidence, probabilities };
}

export function createInferenceProcessor(deps: InferenceProcessorDeps) {
  return async function processInference(job: Job<InferenceJobData, InferenceResult>, _token?: string, signal?: AbortSignal): Promise<InferenceResult> {
    deps.onJobStart?.(job);
    const parsed = inferenceJobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', `job payload is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`));
    }
    if (signal?.aborted || (await deps.cancelRequests.requestedAt(job.id!))) {
      throw new UnrecoverableError(formatFailedReason(JOB_CANCELED, CANCELED_AT_CLIENT_REQUEST));
    }
    const deadlineMs = msUntilDeadline(parsed.data);
    if (deadlineMs !== null && deadlineMs <= 0) {
      throw new UnrecoverableError(formatFailedReason(JOB_ABORTED, `deadline ${parsed.data.deadline} passed before the job started`));
    }
    let images: Uint8Array[];
    try {
      images = parsed.data.images.map(decodePixels);
    } catch (error) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', (error as Error).message));
    }
    const withdraw = withdrawSignal(signal, parsed.data.deadline, deadlineMs);
    try {
      const classified = await deps.classify(parsed.data.model, images, withdraw.signal);
      deps.onClassified?.(job, images, classified);
      const minConfidence = parsed.data.min_confidence ?? deps.minConfidence ?? 0;
      const predictions = classified.predictions.map((p) => answerOf(p, minConfidence));
      return { predictions, model: classified.model, batch_images: classified.batchSize, worker: deps.workerId };
    } catch (error) {
      // Withdrawn from its batch before it ran: canceled, never retried.
      if (withdraw.signal.aborted && error === withdraw.signal.reason) throw error;
      if (error instanceof ModelNotFoundError) throw new UnrecoverableError(formatFailedReason('MODEL_NOT_FOUND', error.message));
      // Anything else (out of memory, a backend fault) may pass on another attempt or worker.
      throw error;
    } finally {
      withdraw.dispose();
    }
  };
}
