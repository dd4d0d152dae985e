/**
 * Model versions as the registry stores them and the API shows them. The
 * metadata is written by training next to the weights (metadata.json).
 */
import { z } from 'zod';

export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
export const MODEL_VERSION_PATTERN = /^v[0-9]+$/;
export const modelNameSchema = z.string().regex(MODEL_NAME_PATTERN, 'lowercase letters, digits and dashes');
export const modelVersionSchema = z.string().regex(MODEL_VERSION_PATTERN, 'v followed by a number, e.g. v3');

/** How inputs must look; identical for every model we train (see packages/imaging). */
export const MNIST_INPUT_CONVENTION = {
  shape: [28, 28, 1],
  range: [0, 1],
  polarity: 'white-on-black',
  layout: 'digit scaled to fit 20x20, centred by centre of mass in a 28x28 frame',
} as const;

export const modelMetadataSchema = z.object({
  name: modelNameSchema,
  version: modelVersionSchema,
  architecture: z.string(),
  parameters: z.number().int(),
  created_at: z.string(),
  dataset: z.object({ name: z.string(), train_count: z.number().int(), validation_count: z.number().int() }),
  training: z.object({
    epochs: z.number().int(),
    batch_size: z.number().int(),
    learning_rate: z.number(),
    augment: z.unknown(),
    seed: z.number(),
    seconds: z.number(),
    backend: z.string(),
    command: z.string().optional(),
    job_id: z.string().optional(),
  }),
  metrics: z.object({
    test_accuracy: z.number().nullable(),
    test_count: z.number().int().nullable(),
    test_loss: z.number().nullable(),
    val_accuracy: z.number().nullable(),
  }),
  input: z.unknown(),
  /** sha256 of each artifact, checked before a worker serves the model. */
  files: z.record(z.string(), z.string()),
});
export type ModelMetadata = z.infer<typeof modelMetadataSchema>;

export const modelVersionViewSchema = modelMetadataSchema.extend({ active: z.boolean() });
export type ModelVersionView = z.infer<typeof modelVersionViewSchema>;

export const modelListSchema = z.object({
  data: z.array(
    z.object({
      name: modelNameSchema,
      active_version: modelVersionSchema.nullable(),
      versions: z.array(modelVersionViewSchema),
    }),
  ),
});
export type ModelList = z.infer<typeof modelListSchema>;
