/**
 * The inference job: what the API puts on the `inference` queue and what a
 * worker returns. Images travel already preprocessed (28x28, MNIST
 * convention) as base64 of 784 bytes, so the queue never carries raw uploads
 * and a worker never sees undecodable input.
 */
import { z } from 'zod';
import { ENCODED_IMAGE_LENGTH, PIXELS_PER_IMAGE } from './pixels.ts';
import { MODEL_VARIANTS, modelVariantSchema, type ModelVariant } from './models.ts';

const MODEL_REF_PATTERN = new RegExp(`^([a-z0-9][a-z0-9-]*)(?:@(v[0-9]+))?(?::(${MODEL_VARIANTS.join('|')}))?$`);

/**
 * `name`, `name@vN`, `name:variant` or `name@vN:variant`. Without a version:
 * the active one. Without a variant: with neither, the variant the registry
 * made active for the model; with a version, that version as trained (fp32),
 * so a pinned reference always means the same file.
 */
export const modelRefSchema = z
  .string()
  .regex(
    MODEL_REF_PATTERN,
    `must be a model name, optionally with @version and :variant (${MODEL_VARIANTS.join(', ')}), e.g. digitnet, digitnet@v2, digitnet@v2:int8 or digitnet:int8`,
  );
export type ModelRef = z.infer<typeof modelRefSchema>;

export interface ParsedModelRef {
  name: string;
  version: string | null;
  variant: ModelVariant | null;
}

/** The parts of a model reference; throws RangeError when it is not one (see modelRefSchema). */
export function parseModelRef(ref: string): ParsedModelRef {
  const match = MODEL_REF_PATTERN.exec(ref);
  if (!match) throw new RangeError(`model reference ${JSON.stringify(ref)} is not name[@vN][:variant]`);
  return { name: match[1]!, version: match[2] ?? null, variant: (match[3] as ModelVariant | undefined) ?? null };
}

export const webhookEventSchema = z.enum(['job.started', 'job.completed', 'training.progress', 'training.completed']);
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

export const webhookRequestSchema = z.object({
  url: z.string().url(),
  events: z.array(webhookEventSchema).min(1),
});
export type WebhookRequest = z.infer<typeof webhookRequestSchema>;

export const inferenceJobDataSchema = z.object({
  /** Preprocessed images, base64 of 784 bytes each (0 = background, 255 = ink). */
  images: z.array(z.string().length(ENCODED_IMAGE_LENGTH)).min(1),
  /** Requested model; null means whatever version is active. */
  model: modelRefSchema.nullable(),
  /** Who submitted it: the API key's id, or "anonymous" without keys. */
  owner: z.string().min(1),
  webhook: webhookRequestSchema.nullable(),
  submitted_at: z.string(),
  /**
   * When the client stops caring (Cancel-After or `deadline` at submit), ISO
   * time. Not started by then: the job ends `aborted` without running; held
   * by a worker for its batch by then: `canceled`. Absent: no deadline.
   */
  deadline: z.iso.datetime().optional(),
  /** Also compute an occlusion-sensitivity map of the first image for its predicted digit (POST /predict `include=explanation`). */
  explain: z.boolean().optional(),
  /**
   * Below this top probability (calibrated), an image is answered `prediction: null, reason: "uncertain"`.
   * Absent: the worker's MIN_CONFIDENCE. Applied by the worker, so every way of reading the result agrees.
   */
  min_confidence: z.number().min(0).max(1).optional(),
});
export type InferenceJobData = z.infer<typeof inferenceJobDataSchema>;

/** Milliseconds until a job's `deadline` (negative once passed); null without one. */
export function msUntilDeadline(data: { deadline?: unknown }, now = Date.now()): number | null {
  if (typeof data.deadline !== 'string') return null;
  const at = Date.parse(data.deadline);
  return Number.isNaN(at) ? null : at - now;
}

/** Why an image has no prediction: its top probability was below the job's `min_confidence`. */
export const UNCERTAIN_REASON = 'uncertain';

export const digitPredictionSchema = z.object({
  /** The most probable digit; null when its probability was below the job's `min_confidence` (see `reason`). */
  prediction: z.number().int().min(0).max(9).nullable(),
  /** The top probability (calibrated), also when `prediction` is null. */
  confidence: z.number().min(0).max(1),
  probabilities: z.array(z.number()).length(10),
  /** Only with `prediction: null`: "uncertain", the top probability was below `min_confidence`; ask the user again. */
  reason: z.literal(UNCERTAIN_REASON).optional(),
});
export type DigitPredictionResult = z.infer<typeof digitPredictionSchema>;

/** The model that served a job; `variant` only when it was not fp32. */
export const modelInfoSchema = z.object({ name: z.string(), version: z.string(), variant: modelVariantSchema.optional() });
export type ModelInfo = z.infer<typeof modelInfoSchema>;

export const inferenceResultSchema = z.object({
  predictions: z.array(digitPredictionSchema),
  model: modelInfoSchema,
  /** Images in the forward pass that served this job (micro-batching). */
  batch_images: z.number().int().positive(),
  worker: z.string(),
  /**
   * With `explain`: per pixel of the first image, how much hiding it lowered
   * the predicted digit's probability, scaled to [0, 1] (1: the most decisive pixel).
   */
  explanation: z.array(z.number().min(0).max(1)).length(PIXELS_PER_IMAGE).optional(),
  /** With `explain`: the engine that ran it, e.g. "tfjs (wasm-simd)". */
  engine: z.string().optional(),
});
export type InferenceResult = z.infer<typeof inferenceResultSchema>;
