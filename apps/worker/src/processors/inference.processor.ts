/**
 * Processes `classify-digits` jobs: validates the payload, honours cancel
 * requests, and hands the images to the model's micro-batcher. Collaborators
 * come in as arguments so the processor is tested without a real model.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  JOB_CANCELED,
  decodePixels,
  formatFailedReason,
  inferenceJobDataSchema,
  type InferenceJobData,
  type InferenceResult,
} from '@digitq/contracts';
import type { CancelRequests } from '@digitq/jobs';
import type { DigitPrediction } from '@digitq/model';
import { ModelNotFoundError } from '../model-store.ts';

export interface InferenceProcessorDeps {
  /** Runs the images through the model's batcher; resolves the model key it used. */
  classify: (modelRef: string | null, images: Uint8Array[]) => Promise<{ predictions: DigitPrediction[]; model: { name: string; version: string }; batchSize: number }>;
  cancelRequests: CancelRequests;
  workerId: string;
  log: Logger;
  onJobStart?: (job: Job) => void;
}

export function createInferenceProcessor(deps: InferenceProcessorDeps) {
  return async function processInference(job: Job<InferenceJobData, InferenceResult>, _token?: string, signal?: AbortSignal): Promise<InferenceResult> {
    deps.onJobStart?.(job);
    const parsed = inferenceJobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', `job payload is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`));
    }
    if (signal?.aborted || (await deps.cancelRequests.requestedAt(job.id!))) {
      throw new UnrecoverableError(formatFailedReason(JOB_CANCELED, 'canceled at client request'));
    }
    let images: Uint8Array[];
    try {
      images = parsed.data.images.map(decodePixels);
    } catch (error) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', (error as Error).message));
    }
    try {
      const { predictions, model, batchSize } = await deps.classify(parsed.data.model, images);
      return { predictions, model, batch_images: batchSize, worker: deps.workerId };
    } catch (error) {
      if (error instanceof ModelNotFoundError) throw new UnrecoverableError(formatFailedReason('MODEL_NOT_FOUND', error.message));
      // Anything else (out of memory, a backend fault) may pass on another attempt or worker.
      throw error;
    }
  };
}
