/**
 * /v1/jobs: submit, read, list and cancel inference jobs. Handlers parse the
 * request and call InferenceJobs; errors go to the error handler.
 */
import { Router, type RequestHandler } from 'express';
import { AppError, TERMINAL_STATUSES, listJobsQuerySchema, type JobList, type JobView } from '@digitq/contracts';
import type { IdempotencyKeys, InferenceJobs } from '@digitq/jobs';
import { WebhookHostUnresolvedError, WebhookUrlRefusedError, type WebhookUrlGuard } from '@digitq/webhooks';
import { untilAborted } from '../http/abort.ts';
import { markWaitApplied, preferredWaitS } from '../http/prefer.ts';
import { parseOrThrow } from '../http/validate.ts';
import { preprocessAll, type PreprocessImages } from '../images.ts';
import { NO_IMAGE_MESSAGE, readJsonJobRequest, readMultipartJobRequest } from '../job-request.ts';
import { boundedBody, imageBody, jsonBody } from '../middleware/body.ts';
import { createIdempotently } from '../middleware/idempotency.ts';
import { ownerOf } from '../middleware/owner.ts';
import { multipartBodyLimit, uploadImages, uploadedFiles } from '../middleware/upload.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import { jobPath } from './paths.ts';

export interface JobsRouteDeps {
  jobs: InferenceJobs;
  preprocess: PreprocessImages;
  /** Refuses webhook URLs that point into private networks or do not resolve. */
  webhookGuard: WebhookUrlGuard;
  maxImageBytes: number;
  maxImagesPerJob: number;
  /** MAX_REQUEST_BYTES: the JSON limit and the multipart total are both bounded by it. */
  maxRequestBytes: number;
  /** The process's budget of request-body bytes in flight; a submit reserves its body's share before reading it. */
  uploads: UploadBudget;
  /** Runs before a submit's body is read, e.g. backpressure (429 QUEUE_FULL). */
  admit?: RequestHandler;
  /** Honours `Idempotency-Key` on POST /v1/jobs; without it the header is ignored. */
  idempotency?: IdempotencyKeys;
  /** Aborted at shutdown: requests waiting on `Prefer: wait` answer at once with the job as it is. */
  shutdown?: AbortSignal;
}

const FILE_FIELDS = ['image'] as const;
const MS_PER_S = 1000;
/** JSON around the images: keys, quotes, a data: URL prefix per image, the other fields. */
const JSON_BODY_OVERHEAD_BYTES = 16 * 1024;
const JSON_IMAGE_OVERHEAD_BYTES = 128;

/** Largest JSON body: every image at the byte limit, base64-encoded. */
export function jsonBodyLimit(maxImageBytes: number, maxImagesPerJob: number): number {
  const base64Bytes = Math.ceil(maxImageBytes / 3) * 4;
  return maxImagesPerJob * (base64Bytes + JSON_IMAGE_OVERHEAD_BYTES) + JSON_BODY_OVERHEAD_BYTES;
}

function isTerminal(view: JobView): boolean {
  return TERMINAL_STATUSES.includes(view.status);
}

function jobNotFound(id: string): AppError {
  return new AppError('JOB_NOT_FOUND', `no job ${id}`);
}

/** Throws 422 WEBHOOK_URL_REFUSED for a webhook URL no worker would deliver to. */
export async function checkWebhookUrl(guard: WebhookUrlGuard, url: string): Promise<void> {
  try {
    await guard.resolve(url);
  } catch (error) {
    if (error instanceof WebhookUrlRefusedError || error instanceof WebhookHostUnresolvedError) {
      throw new AppError('WEBHOOK_URL_REFUSED', error.message, {}, { cause: error });
    }
    throw error;
  }
}

export function jobsRouter(deps: JobsRouteDeps): Router {
  const router = Router();
  const jsonLimit = Math.min(jsonBodyLimit(deps.maxImageBytes, deps.maxImagesPerJob), deps.maxRequestBytes);
  const multipartLimit = Math.min(multipartBodyLimit(deps.maxImagesPerJob, deps.maxImageBytes), deps.maxRequestBytes);
  const maxBodyBytes = Math.max(jsonLimit, multipartLimit);
  const body = imageBody(
    {
      multipart: uploadImages({
        fileFields: FILE_FIELDS,
        maxFiles: deps.maxImagesPerJob,
        maxFileBytes: deps.maxImageBytes,
        maxTotalBytes: multipartLimit,
        tooManyFilesMessage: `too many images; at most ${deps.maxImagesPerJob} per job`,
      }),
      json: jsonBody(jsonLimit),
    },
    NO_IMAGE_MESSAGE,
  );
  const readBody = [boundedBody(maxBodyBytes), ...(deps.admit ? [deps.admit] : []), reserveUploadBudget(deps.uploads, maxBodyBytes), body];

  /** The job once it finished, or as it is when `waitS` ran out or the server began shutting down. */
  async function waitForJob(id: string, owner: string, waitS: number): Promise<JobView | null> {
    const finished = deps.jobs.waitForFinish(id, owner, waitS * MS_PER_S);
    if (!deps.shutdown) return finished;
    const shutdown = untilAborted(deps.shutdown);
    try {
      await Promise.race([finished, shutdown.promise]);
    } finally {
      shutdown.dispose();
    }
    return deps.jobs.get(id, owner);
  }

  router.post('/v1/jobs', ...readBody, async (req, res) => {
    const files = uploadedFiles(req, FILE_FIELDS);
    const owner = ownerOf(res);
    // Validated before anything else (the idempotency fingerprint included) looks into the body.
    const request = req.is('multipart/form-data')
      ? readMultipartJobRequest(files, req.body, deps.maxImagesPerJob)
      : readJsonJobRequest(req.body, deps.maxImagesPerJob);
    const submit = async (id?: string) => {
      if (request.webhook) await checkWebhookUrl(deps.webhookGuard, request.webhook.url);
      const images = await preprocessAll(request.images, deps.preprocess);
      return deps.jobs.submit({ id, images, model: request.model, owner, webhook: request.webhook, priority: request.priority });
    };
    // A replayed Idempotency-Key answers with the job it created, as it is now.
    const submitted = deps.idempotency
      ? (await createIdempotently(deps.idempotency, req, res, files, { create: submit, load: (id) => deps.jobs.get(id, owner), gone: jobNotFound })).resource
      : await submit();
    const waitS = preferredWaitS(req);
    const view = waitS ? ((await waitForJob(submitted.id, owner, waitS)) ?? submitted) : submitted;
    res.location(jobPath(submitted.id));
    markWaitApplied(res, waitS);
    res.status(isTerminal(view) ? 200 : 202).json(view);
  });

  router.get('/v1/jobs', async (req, res) => {
    const query = parseOrThrow(listJobsQuerySchema, req.query, 'query');
    const page = await deps.jobs.list(ownerOf(res), query);
    res.json(page satisfies JobList);
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const owner = ownerOf(res);
    const waitS = preferredWaitS(req);
    const view = waitS ? await waitForJob(req.params.id, owner, waitS) : await deps.jobs.get(req.params.id, owner);
    if (!view) throw jobNotFound(req.params.id);
    markWaitApplied(res, waitS);
    res.json(view);
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const view = await deps.jobs.cancel(req.params.id, ownerOf(res));
    if (!view) throw jobNotFound(req.params.id);
    res.json(view);
  });

  return router;
}
