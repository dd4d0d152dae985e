/**
 * The intake: what arrived (a form's files and text fields, a JSON body, path
 * parameters, a query) -> the validated plain input of a use case. The shape
 * of every request is checked here and only here (VALIDATION_FAILED,
 * NO_IMAGE, TOO_MANY_IMAGES); what an image holds is checked when it is
 * preprocessed (use-cases/preprocess.ts), and how many bytes a body may have
 * before it is read, by the HTTP layer (middleware/body.ts, upload.ts).
 *
 * Image counts are checked before the fields, so a missing or oversized
 * batch gets its own error code.
 */
import {
  AppError,
  DEFAULT_JOB_WEBHOOK_EVENTS,
  DEFAULT_MODEL_VARIANT,
  JOB_PRIORITY_DEFAULT,
  createJobFieldsSchema,
  createJobJsonBodySchema,
  listJobsQuerySchema,
  modelNameSchema,
  modelVariantSchema,
  modelVersionSchema,
  predictFieldsSchema,
  predictQuerySchema,
  trainingRequestSchema,
  type JobWebhookEvent,
  type ListJobsQuery,
  type ModelVariant,
  type TrainingRequest,
} from '@digitq/contracts';
import { z } from 'zod';
import type { JobRequest } from '../use-cases/jobs.ts';
import type { ModelVersionRef } from '../use-cases/models.ts';
import type { PredictRequest } from '../use-cases/predict.ts';
import { decodeBase64Image } from './base64-image.ts';
import { parseOrThrow } from './parse.ts';

/** A file as it was uploaded: its form field, its name, its bytes. */
export interface UploadedFile {
  field: string;
  name: string;
  bytes: Uint8Array;
}

export const JOB_NO_IMAGE_MESSAGE = 'no image: send files in the multipart field "image" or a JSON body {"images": ["<base64>", ...]}';
export const PREDICT_NO_IMAGE_MESSAGE = 'no image: send one file in the multipart field "file" (or "image")';

interface JobOptions {
  webhook?: string;
  webhook_events_filter?: JobWebhookEvent[];
  priority?: number;
  model?: string;
  deadline?: string;
  min_confidence?: number;
}

const MS_PER_UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest Cancel-After: a job is not kept waiting longer than its result is kept (JOB_RESULT_TTL_S at most 30 days). */
const CANCEL_AFTER_MAX_MS = 30 * 24 * 3_600_000;
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/y;

/**
 * A `Cancel-After` duration in milliseconds: parts of a number and a unit
 * (ms, s, m, h), as in `500ms`, `30s`, `2m`, `1m30s`, `1.5h`, or a bare
 * number of seconds (as Retry-After says it). Anything else, zero, or more
 * than 30 days is VALIDATION_FAILED.
 */
export function parseCancelAfter(value: string): number {
  const text = value.trim();
  let ms = 0;
  if (/^[0-9]+$/.test(text)) ms = Number(text) * MS_PER_UNIT.s!;
  else {
    DURATION_PART.lastIndex = 0;
    let match: RegExpExecArray | null;
    while (DURATION_PART.lastIndex < text.length && (match = DURATION_PART.exec(text))) ms += Number(match[1]) * MS_PER_UNIT[match[2]!]!;
    if (text === '' || DURATION_PART.lastIndex !== text.length) ms = Number.NaN;
  }
  if (!(ms > 0 && ms <= CANCEL_AFTER_MAX_MS)) {
    throw new AppError('VALIDATION_FAILED', `Cancel-After: ${JSON.stringify(value)} is not a duration from 1ms to 30 days, e.g. 500ms, 30s, 2m, 1m30s or 1h`);
  }
  return Math.round(ms);
}

/**
 * A job's deadline from its `Cancel-After` header and `deadline` field (the
 * earlier one when both are given), as UTC ISO time; null without either.
 */
export function readJobDeadline(request: JobRequest, cancelAfter: string | string[] | undefined, now = Date.now()): JobRequest {
  if (Array.isArray(cancelAfter)) throw new AppError('VALIDATION_FAILED', 'Cancel-After may be given once');
  const fromHeader = cancelAfter === undefined ? null : now + parseCancelAfter(cancelAfter);
  const fromField = request.deadline === null ? null : Date.parse(request.deadline);
  const times = [fromHeader, fromField].filter((t): t is number => t !== null);
  return { ...request, deadline: times.length === 0 ? null : new Date(Math.min(...times)).toISOString() };
}

/** The client asked for the answer as server-sent events (`Accept: text/event-stream`). */
export function acceptsEventStream(accept: string | undefined): boolean {
  return accept !== undefined && /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept);
}

/** A Last-Event-ID header (one value; empty: none). */
export function readLastEventId(value: string | string[] | undefined): string | null {
  const id = Array.isArray(value) ? value[0] : value;
  return id && id.trim() !== '' ? id.trim() : null;
}

function checkCount(count: number, maxImages: number): void {
  if (count === 0) throw new AppError('NO_IMAGE', JOB_NO_IMAGE_MESSAGE);
  if (count > maxImages) throw new AppError('TOO_MANY_IMAGES', `${count} images sent; at most ${maxImages} per job`);
}

function toJobRequest(images: JobRequest['images'], options: JobOptions): JobRequest {
  return {
    images,
    model: options.model ?? null,
    webhook: options.webhook ? { url: options.webhook, events: [...(options.webhook_events_filter ?? DEFAULT_JOB_WEBHOOK_EVENTS)] } : null,
    priority: options.priority ?? JOB_PRIORITY_DEFAULT,
    deadline: options.deadline ?? null,
    minConfidence: options.min_confidence ?? null,
  };
}

/** A job as a form: the image files and the options as text fields. */
export function readMultipartJobRequest(files: readonly UploadedFile[], fields: unknown, maxImages: number): JobRequest {
  checkCount(files.length, maxImages);
  const options = parseOrThrow(createJobFieldsSchema, fields, 'form fields');
  return toJobRequest(
    files.map((file) => ({ name: file.name, bytes: file.bytes })),
    options,
  );
}

/** A job as JSON: base64 images and the options. */
export function readJsonJobRequest(body: unknown, maxImages: number): JobRequest {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const images = (body as { images?: unknown }).images;
    if (images === undefined || images === null) checkCount(0, maxImages);
    if (Array.isArray(images)) checkCount(images.length, maxImages);
  }
  const parsed = parseOrThrow(createJobJsonBodySchema, body, 'request body');
  return toJobRequest(
    parsed.images.map((image, i) => decodeBase64Image(image, i, parsed.images.length)),
    parsed,
  );
}

/** One image to classify now (the form's first file), the model to ask, and the options (a form field wins over the query). */
export function readPredictRequest(files: readonly UploadedFile[], fields: unknown, query: unknown = {}): PredictRequest {
  const [file] = files;
  if (!file) throw new AppError('NO_IMAGE', PREDICT_NO_IMAGE_MESSAGE);
  const { model, include, min_confidence } = parseOrThrow(predictFieldsSchema, fields, 'form fields');
  const fromQuery = parseOrThrow(predictQuerySchema, query ?? {}, 'query');
  return {
    image: { name: file.name, bytes: file.bytes },
    model: model ?? null,
    include: [...new Set(include ?? [])],
    minConfidence: min_confidence ?? fromQuery.min_confidence ?? null,
  };
}

/** A training's settings, defaults filled in; no body at all is every default. */
export function readTrainingRequest(body: unknown): TrainingRequest {
  return parseOrThrow(trainingRequestSchema, body ?? {}, 'training request');
}

export function readListJobsQuery(query: unknown): ListJobsQuery {
  return parseOrThrow(listJobsQuerySchema, query, 'query');
}

export function readModelVersionRef(params: { name?: unknown; version?: unknown }): ModelVersionRef {
  return {
    name: parseOrThrow(modelNameSchema, params.name, 'model name'),
    version: parseOrThrow(modelVersionSchema, params.version, 'model version'),
  };
}

export const activationQuerySchema = z.object({
  variant: modelVariantSchema.optional().meta({ description: 'Which file of the version serves: fp32 (model.onnx, the default), fp16 or int8 (`npm run model:quantize`)', example: 'int8' }),
});

/** POST /v1/models/:name/:version/activate?variant=int8: the version and the variant to serve (default fp32). */
export function readActivation(params: { name?: unknown; version?: unknown }, query: unknown): ModelVersionRef & { variant: ModelVariant } {
  const { variant } = parseOrThrow(activationQuerySchema, query ?? {}, 'query');
  return { ...readModelVersionRef(params), variant: variant ?? DEFAULT_MODEL_VARIANT };
}

export const reportChartQuerySchema = z.object({
  dataset: z
    .string()
    .min(1)
    .max(100)
    .optional()
    .meta({ description: 'Which dataset of the report the confusion matrix or reliability diagram shows (default mnist-test), e.g. feedback-heldback or robustness/downsample-8', example: 'feedback-heldback' }),
  compare_to: modelVersionSchema.optional().meta({ description: 'Another version of the model drawn beside this one as "before" (reliability and robustness charts)', example: 'v1' }),
});

/** GET /v1/models/:name/:version/report/<chart>.svg?dataset=&compare_to=: the version and what the chart shows. */
export function readReportChart(params: { name?: unknown; version?: unknown }, query: unknown): ModelVersionRef & { dataset?: string; compareTo?: string } {
  const { dataset, compare_to } = parseOrThrow(reportChartQuerySchema, query ?? {}, 'query');
  return { ...readModelVersionRef(params), ...(dataset && { dataset }), ...(compare_to && { compareTo: compare_to }) };
}
