/**
 * Corrections ("feedback"): a job's owner says what digit an image really
 * was (POST /v1/jobs/:id/feedback). Each correction keeps the image the
 * model saw (the job's preprocessed 28x28 bytes) with its true label, so it
 * can be trained on (dataset `feedback`, `mnist+feedback`) and judged on.
 *
 * `heldback` is decided once, from the entry's id, for a fixed share of
 * entries: training never sees held-back entries, and every evaluation
 * report judges a candidate on the same ones.
 */
import { z } from 'zod';
import { DIGIT_CLASSES } from './pixels.ts';

/** Percent of entries held back from training for evaluation. */
export const FEEDBACK_HELDBACK_PERCENT = 20;

/** Page size of the feedback listings. */
export const FEEDBACK_LIST_LIMIT_MAX = 1000;
export const FEEDBACK_LIST_LIMIT_DEFAULT = 100;
const FEEDBACK_CURSOR_MAX_LENGTH = 256;

const digitSchema = z.int({ error: `must be an integer from 0 to ${DIGIT_CLASSES - 1}` }).min(0).max(DIGIT_CLASSES - 1);

/** POST /v1/jobs/:id/feedback. */
export const feedbackRequestSchema = z.strictObject({
  /** Which of the job's images (0-based); default the first. */
  index: z.int({ error: 'must be a non-negative integer' }).min(0).default(0).meta({ description: "Which of the job's images, from 0; default 0" }),
  /** The digit the image really is. */
  label: digitSchema.meta({ description: 'The digit the image really is, 0-9' }),
});
export type FeedbackRequest = z.infer<typeof feedbackRequestSchema>;

/** One correction, as the API answers it (its pixels are kept, not shown). */
export const feedbackEntrySchema = z.object({
  id: z.string(),
  owner: z.string(),
  job_id: z.string(),
  index: z.int().min(0),
  /** The true digit, as the owner said. */
  label: digitSchema,
  /** What the model answered; null when it declined to answer (low confidence). */
  predicted: digitSchema.nullable(),
  /** The model version that answered. */
  model: z.object({ name: z.string(), version: z.string() }),
  created_at: z.string(),
  /** Held back from training, for evaluation (decided from the id). */
  heldback: z.boolean(),
});
export type FeedbackEntry = z.infer<typeof feedbackEntrySchema>;

/** A page of corrections, newest first; next_cursor is null on the last page. */
export const feedbackListSchema = z.object({
  data: z.array(feedbackEntrySchema),
  next_cursor: z.string().nullable(),
});
export type FeedbackList = z.infer<typeof feedbackListSchema>;

const limitSchema = z
  .string()
  .trim()
  .regex(/^[0-9]+$/, 'must be an integer')
  .transform(Number)
  .pipe(z.int({ error: `must be an integer from 1 to ${FEEDBACK_LIST_LIMIT_MAX}` }).min(1).max(FEEDBACK_LIST_LIMIT_MAX))
  .default(FEEDBACK_LIST_LIMIT_DEFAULT);

/** GET /v1/feedback/mine. */
export const listOwnFeedbackQuerySchema = z.object({
  limit: limitSchema,
  /** next_cursor of the previous page. */
  cursor: z.string().min(1).max(FEEDBACK_CURSOR_MAX_LENGTH).optional(),
});
export type ListOwnFeedbackQuery = z.infer<typeof listOwnFeedbackQuerySchema>;

/** How GET /v1/feedback answers: a JSON page, or every entry as a zip (IDX like MNIST, or PNGs in `<label>/` folders). */
export const FEEDBACK_EXPORT_FORMATS = ['json', 'idx', 'png'] as const;
export type FeedbackExportFormat = (typeof FEEDBACK_EXPORT_FORMATS)[number];

/** GET /v1/feedback (admin). */
export const listFeedbackQuerySchema = listOwnFeedbackQuerySchema.extend({
  format: z
    .enum(FEEDBACK_EXPORT_FORMATS)
    .default('json')
    .meta({ description: '`json`: a page of entries; `idx`: every entry as a zip of MNIST-style IDX files (`dataset: idx:<dir>`); `png`: every entry as a zip of `<label>/<id>.png` (`dataset: folder:<dir>`)' }),
  /** Only this owner's entries. */
  owner: z.string().min(1).max(FEEDBACK_CURSOR_MAX_LENGTH).optional(),
  /** Only held-back (true) or only trainable (false) entries. */
  heldback: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
});
export type ListFeedbackQuery = z.infer<typeof listFeedbackQuerySchema>;

/** DELETE /v1/feedback: how many of the caller's entries were deleted. */
export const feedbackDeletedSchema = z.object({ deleted: z.int().min(0) });
export type FeedbackDeleted = z.infer<typeof feedbackDeletedSchema>;
