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

/**
 * What a version can be served as: `fp32` is the model as trained (tfjs, or
 * model.onnx on ONNX Runtime); `fp16` and `int8` are ONNX files derived from
 * model.onnx (npm run model:quantize) that only ONNX Runtime serves.
 */
export const MODEL_VARIANTS = ['fp32', 'fp16', 'int8'] as const;
export const modelVariantSchema = z.enum(MODEL_VARIANTS);
export type ModelVariant = z.infer<typeof modelVariantSchema>;
export const DEFAULT_MODEL_VARIANT: ModelVariant = 'fp32';

/** How a derived variant was made and how it measured against model.onnx, on the same images with the same runtime. */
export const modelVariantInfoSchema = z.object({
  /** Its file in the version folder (its sha256 is in `files`). */
  file: z.string(),
  bytes: z.number().int(),
  /** bytes / model.onnx's bytes. */
  size_ratio: z.number(),
  /** e.g. "int8 QDQ: weights int8 per output channel (symmetric), activations uint8 calibrated (min/max)". */
  method: z.string(),
  calibration: z.object({ dataset: z.string(), count: z.number().int(), method: z.string() }).optional(),
  /** Test-set accuracy of this file and of model.onnx, both on ONNX Runtime CPU. */
  test_accuracy: z.number(),
  fp32_test_accuracy: z.number(),
  test_count: z.number().int(),
  created_at: z.string(),
});
export type ModelVariantInfo = z.infer<typeof modelVariantInfoSchema>;

export const modelMetadataSchema = z.object({
  name: modelNameSchema,
  version: modelVersionSchema,
  architecture: z.string(),
  parameters: z.number().int(),
  created_at: z.string(),
  /** Where a version not trained here came from, e.g. "imported from model.h5 (Keras 2.15.0, legacy HDF5)". */
  source: z.string().optional(),
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
    /** The version fine-tuning started from (warm start), e.g. "digitnet@v1". */
    base: z.string().optional(),
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
  /** The derived variants written into the folder (absent: none). */
  variants: z.partialRecord(modelVariantSchema, modelVariantInfoSchema).optional(),
});
export type ModelMetadata = z.infer<typeof modelMetadataSchema>;

export const modelVersionViewSchema = modelMetadataSchema.extend({ active: z.boolean() });
export type ModelVersionView = z.infer<typeof modelVersionViewSchema>;

export const modelListSchema = z.object({
  data: z.array(
    z.object({
      name: modelNameSchema,
      active_version: modelVersionSchema.nullable(),
      /** The variant jobs that name none are served with (absent: fp32). */
      active_variant: modelVariantSchema.optional(),
      versions: z.array(modelVersionViewSchema),
    }),
  ),
});
export type ModelList = z.infer<typeof modelListSchema>;
