/**
 * The inference job: what the API puts on the `inference` queue and what a
 * worker returns. Images travel already preprocessed (28x28, MNIST
 * convention) as base64 of 784 bytes, so the queue never carries raw uploads
 * and a worker never sees undecodable input.
 */
import { z } from 'zod';

export const PIXELS_PER_IMAGE = 784;
/** base64 of 784 bytes. */
export const ENCODED_IMAGE_LENGTH = Math.ceil(PIXELS_PER_IMAGE / 3) * 4;

export const modelRefSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]*(@v[0-9]+)?$/, 'must be a model name, optionally with @version (e.g. digitnet or digitnet@v2)');
export type ModelRef = z.infer<typeof modelRefSchema>;

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
});
export type InferenceJobData = z.infer<typeof inferenceJobDataSchema>;

export const digitPredictionSchema = z.object({
  prediction: z.number().int().min(0).max(9),
  confidence: z.number().min(0).max(1),
  probabilities: z.array(z.number()).length(10),
});
export type DigitPredictionResult = z.infer<typeof digitPredictionSchema>;

export const modelInfoSchema = z.object({ name: z.string(), version: z.string() });
export type ModelInfo = z.infer<typeof modelInfoSchema>;

export const inferenceResultSchema = z.object({
  predictions: z.array(digitPredictionSchema),
  model: modelInfoSchema,
  /** Images in the forward pass that served this job (micro-batching). */
  batch_images: z.number().int().positive(),
  worker: z.string(),
});
export type InferenceResult = z.infer<typeof inferenceResultSchema>;

export function encodePixels(pixels: Uint8Array): string {
  if (pixels.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${pixels.length}`);
  return Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength).toString('base64');
}

/** Inverse of encodePixels, scaled to [0, 1] for the model. */
export function decodePixels(encoded: string): Float32Array {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${bytes.length}`);
  return Float32Array.from(bytes, (v) => v / 255);
}

/** Float pixels in [0,1] → bytes, as MNIST stores them. */
export function quantizePixels(pixels: Float32Array): Uint8Array {
  return Uint8Array.from(pixels, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}
