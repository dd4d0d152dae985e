/**
 * The training job: request, progress and result. Training runs on the
 * `training` queue; its progress is BullMQ job progress, so dashboards and
 * pollers see the same numbers.
 */
import { z } from 'zod';
import { errorBodySchema, jobStatusSchema } from './job-view.ts';
import { webhookRequestSchema } from './inference.ts';
import { modelNameSchema } from './models.ts';

export const TRAINING_ARCHITECTURES = ['digitnet-bn', 'tiny'] as const;
/** A new training's architecture when it names none and has no base. */
export const DEFAULT_TRAINING_ARCHITECTURE = 'digitnet-bn';
/** `robust` adds the robustness suite's degradations (low-resolution scans, binarisation, stroke width) to `default`. */
export const AUGMENT_PRESET_NAMES = ['default', 'mild', 'robust', 'none'] as const;

/**
 * What a training may learn from: MNIST, an IDX or image folder, or the
 * users' corrections (POST /v1/jobs/{id}/feedback) that are not held back
 * for evaluation: alone (`feedback`) or mixed into MNIST (`mnist+feedback`).
 */
export const TRAINING_DATASET_PATTERN = /^(mnist|mnist\+feedback|feedback|idx:.+|folder:.+)$/;

/** A version to fine-tune: `name@vN`, or `name` for the version active when the training starts. No variant: training starts from the fp32 weights. */
export const TRAINING_BASE_PATTERN = /^[a-z0-9][a-z0-9-]*(@v[0-9]+)?$/;

/** Sane limits for a request; an operator can train bigger runs with the CLI. */
export const TRAINING_LIMITS = { maxEpochs: 100, minBatch: 8, maxBatch: 1024 } as const;

export const trainingRequestSchema = z
  .object({
    dataset: z
      .string()
      .regex(TRAINING_DATASET_PATTERN, 'must be "mnist", "mnist+feedback", "feedback", "idx:<dir>" or "folder:<dir>"')
      .default('mnist'),
    /**
     * Fine-tune this version (warm start from its weights; its architecture,
     * so `architecture` must be left out or be the same). Absent: train from
     * scratch.
     */
    base: z.string().regex(TRAINING_BASE_PATTERN, 'must be a model version, e.g. "digitnet@v1" (or a model name for its active version)').optional(),
    epochs: z.number().int().min(1).max(TRAINING_LIMITS.maxEpochs).default(12),
    batch_size: z.number().int().min(TRAINING_LIMITS.minBatch).max(TRAINING_LIMITS.maxBatch).default(64),
    learning_rate: z.number().gt(0).max(1).default(0.003),
    augment: z.enum(AUGMENT_PRESET_NAMES).default('default'),
    validation_split: z.number().min(0).max(0.5).default(0.05),
    model_name: modelNameSchema.default('digitnet'),
    /** Default: the base's with `base`, else digitnet-bn (DEFAULT_TRAINING_ARCHITECTURE). */
    architecture: z.enum(TRAINING_ARCHITECTURES).optional(),
    /** Train on the first N images only (quick experiments); with `mnist+feedback` it subsamples MNIST, every feedback entry is kept. */
    limit: z.number().int().min(100).optional(),
    seed: z.number().int().min(0).default(1),
    webhook: z.string().url().optional(),
    webhook_events_filter: z.array(z.enum(['job.started', 'job.completed', 'training.progress', 'training.completed'])).min(1).optional(),
  })
  .strict();
export type TrainingRequest = z.infer<typeof trainingRequestSchema>;

export const trainingJobDataSchema = trainingRequestSchema.omit({ webhook: true, webhook_events_filter: true }).extend({
  owner: z.string(),
  webhook: webhookRequestSchema.nullable(),
  submitted_at: z.string(),
});
export type TrainingJobData = z.infer<typeof trainingJobDataSchema>;

/**
 * `training`: epochs and batches; `evaluating`: the new version's evaluation
 * report (and, with AUTO_PROMOTE, the active version's numbers on the same
 * data) after the last epoch. Absent in progress recorded before phases existed.
 */
export const TRAINING_PHASES = ['training', 'evaluating'] as const;

export const trainingProgressSchema = z.object({
  phase: z.enum(TRAINING_PHASES).optional(),
  /** While evaluating: images classified so far of those the evaluation needs. */
  evaluated: z.object({ images: z.number().int(), total: z.number().int() }).optional(),
  epoch: z.number().int(),
  epochs: z.number().int(),
  batch: z.number().int(),
  batches: z.number().int(),
  loss: z.number().nullable(),
  accuracy: z.number().nullable(),
  val_loss: z.number().nullable(),
  val_accuracy: z.number().nullable(),
  images_per_s: z.number().nullable(),
  eta_s: z.number().nullable(),
});
export type TrainingProgress = z.infer<typeof trainingProgressSchema>;

export const epochRecordSchema = z.object({
  epoch: z.number().int(),
  loss: z.number(),
  accuracy: z.number(),
  val_loss: z.number().nullable(),
  val_accuracy: z.number().nullable(),
  test_accuracy: z.number().nullable(),
  learning_rate: z.number(),
  seconds: z.number(),
  images_per_s: z.number(),
});

/** What a training job's progress field holds: the latest numbers and the per-epoch history. */
export const trainingJobProgressSchema = z.object({ progress: trainingProgressSchema, history: z.array(epochRecordSchema) });
export type TrainingJobProgress = z.infer<typeof trainingJobProgressSchema>;

/** A training reports progress (job progress, training.progress webhooks, event streams) at most this often. */
export const PROGRESS_INTERVAL_MS = 500;

export const trainingResultSchema = z.object({
  model: z.object({ name: z.string(), version: z.string() }),
  test_accuracy: z.number().nullable(),
  history: z.array(epochRecordSchema),
  promoted: z.boolean(),
  /**
   * Why the version was or was not made active, with the numbers (the same
   * words as its evaluation report's `promotion.reasons`). Absent in results
   * from before promotion was judged.
   */
  promotion_reasons: z.array(z.string()).optional(),
  worker: z.string(),
});
export type TrainingResult = z.infer<typeof trainingResultSchema>;

export const trainingViewSchema = z.object({
  id: z.string(),
  status: jobStatusSchema,
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  request: trainingRequestSchema.omit({ webhook: true, webhook_events_filter: true }),
  progress: trainingProgressSchema.nullable(),
  history: z.array(epochRecordSchema),
  model: z
    .object({
      name: z.string(),
      version: z.string(),
      test_accuracy: z.number().nullable(),
      promoted: z.boolean(),
      /** Why it was or was not made active (AUTO_PROMOTE), with the numbers; its report (GET /v1/models/{name}/{version}/report) has the rest. */
      promotion_reasons: z.array(z.string()).optional(),
    })
    .nullable(),
  error: errorBodySchema.nullable(),
});
export type TrainingView = z.infer<typeof trainingViewSchema>;
