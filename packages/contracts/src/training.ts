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
export const AUGMENT_PRESET_NAMES = ['default', 'mild', 'none'] as const;

/** Sane limits for a request; an operator can train bigger runs with the CLI. */
export const TRAINING_LIMITS = { maxEpochs: 100, minBatch: 8, maxBatch: 1024 } as const;

export const trainingRequestSchema = z
  .object({
    dataset: z
      .string()
      .regex(/^(mnist|idx:.+|folder:.+)$/, 'must be "mnist", "idx:<dir>" or "folder:<dir>"')
      .default('mnist'),
    epochs: z.number().int().min(1).max(TRAINING_LIMITS.maxEpochs).default(12),
    batch_size: z.number().int().min(TRAINING_LIMITS.minBatch).max(TRAINING_LIMITS.maxBatch).default(64),
    learning_rate: z.number().gt(0).max(1).default(0.003),
    augment: z.enum(AUGMENT_PRESET_NAMES).default('default'),
    validation_split: z.number().min(0).max(0.5).default(0.05),
    model_name: modelNameSchema.default('digitnet'),
    architecture: z.enum(TRAINING_ARCHITECTURES).default('digitnet-bn'),
    /** Train on the first N images only (quick experiments). */
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

export const trainingProgressSchema = z.object({
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
  model: z.object({ name: z.string(), version: z.string(), test_accuracy: z.number().nullable(), promoted: z.boolean() }).nullable(),
  error: errorBodySchema.nullable(),
});
export type TrainingView = z.infer<typeof trainingViewSchema>;
