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
  JOB_PRIORITY_DEFAULT,
  createJobFieldsSchema,
  createJobJsonBodySchema,
  listJobsQuerySchema,
  modelNameSchema,
  modelVersionSchema,
  predictFieldsSchema,
  trainingRequestSchema,
  type JobWebhookEvent,
  type ListJobsQuery,
  type TrainingRequest,
} from '@digitq/contracts';
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

/** One image to classify now (the form's first file) and the model to ask. */
export function readPredictRequest(files: readonly UploadedFile[], fields: unknown): PredictRequest {
  const [file] = files;
  if (!file) throw new AppError('NO_IMAGE', PREDICT_NO_IMAGE_MESSAGE);
  const { model } = parseOrThrow(predictFieldsSchema, fields, 'form fields');
  return { image: { name: file.name, bytes: file.bytes }, model: model ?? null };
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
