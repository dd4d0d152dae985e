/**
 * POST /v1/jobs in either encoding -> one shape: the images (still as
 * uploaded bytes) and the validated options. Counts are checked before the
 * fields so a missing or oversized batch gets its own error code.
 */
import {
  AppError,
  DEFAULT_JOB_WEBHOOK_EVENTS,
  JOB_PRIORITY_DEFAULT,
  createJobFieldsSchema,
  createJobJsonBodySchema,
  type InferenceJobData,
  type JobWebhookEvent,
} from '@digitq/contracts';
import { parseOrThrow } from './http/validate.ts';
import { decodeBase64Image, type NamedImage } from './images.ts';

export interface CreateJobRequest {
  images: NamedImage[];
  model: string | null;
  webhook: InferenceJobData['webhook'];
  priority: number;
}

interface JobOptions {
  webhook?: string;
  webhook_events_filter?: JobWebhookEvent[];
  priority?: number;
  model?: string;
}

export const NO_IMAGE_MESSAGE = 'no image: send files in the multipart field "image" or a JSON body {"images": ["<base64>", ...]}';

function checkCount(count: number, maxImages: number): void {
  if (count === 0) throw new AppError('NO_IMAGE', NO_IMAGE_MESSAGE);
  if (count > maxImages) throw new AppError('TOO_MANY_IMAGES', `${count} images sent; at most ${maxImages} per job`);
}

function toRequest(images: NamedImage[], options: JobOptions): CreateJobRequest {
  return {
    images,
    model: options.model ?? null,
    webhook: options.webhook ? { url: options.webhook, events: [...(options.webhook_events_filter ?? DEFAULT_JOB_WEBHOOK_EVENTS)] } : null,
    priority: options.priority ?? JOB_PRIORITY_DEFAULT,
  };
}

export function readMultipartJobRequest(files: readonly Express.Multer.File[], fields: unknown, maxImages: number): CreateJobRequest {
  checkCount(files.length, maxImages);
  const options = parseOrThrow(createJobFieldsSchema, fields, 'form fields');
  return toRequest(
    files.map((file) => ({ name: file.originalname, bytes: file.buffer })),
    options,
  );
}

export function readJsonJobRequest(body: unknown, maxImages: number): CreateJobRequest {
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const images = (body as { images?: unknown }).images;
    if (images === undefined || images === null) checkCount(0, maxImages);
    if (Array.isArray(images)) checkCount(images.length, maxImages);
  }
  const parsed = parseOrThrow(createJobJsonBodySchema, body, 'request body');
  return toRequest(
    parsed.images.map((image, i) => decodeBase64Image(image, i, parsed.images.length)),
    parsed,
  );
}
