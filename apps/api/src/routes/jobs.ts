/**
 * /v1/jobs: submit, read, list and cancel inference jobs, and a job's webhook
 * deliveries. Each handler reads the request (intake/), calls its use case
 * (use-cases/jobs.ts) and answers; errors go to the error handler.
 */
import { Router, type RequestHandler } from 'express';
import { readJsonJobRequest, readListJobsQuery, readMultipartJobRequest, JOB_NO_IMAGE_MESSAGE } from '../intake/requests.ts';
import { IDEMPOTENT_REPLAYED_HEADER, idempotencyOf } from '../http/idempotency.ts';
import { markWaitApplied, preferredWaitS } from '../http/prefer.ts';
import { boundedBody, imageBody, jsonBody } from '../middleware/body.ts';
import { ownerOf } from '../middleware/owner.ts';
import { multipartBodyLimit, uploadImages, uploadedFiles } from '../middleware/upload.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { cancelJob, getJob, isFinished, listJobWebhookAttempts, listJobs, submitJob } from '../use-cases/jobs.ts';
import { jobPath } from '../use-cases/paths.ts';

export interface JobsRouteDeps {
  intake: IntakeDeps;
  maxImageBytes: number;
  maxImagesPerJob: number;
  /** MAX_REQUEST_BYTES: the JSON limit and the multipart total are both bounded by it. */
  maxRequestBytes: number;
  /** The process's budget of request-body bytes in flight; a submit reserves its body's share before reading it. */
  uploads: UploadBudget;
  /** Runs before a submit's body is read, e.g. backpressure (429 QUEUE_FULL). */
  admit?: RequestHandler;
}

const FILE_FIELDS = ['image'] as const;
/** JSON around the images: keys, quotes, a data: URL prefix per image, the other fields. */
const JSON_BODY_OVERHEAD_BYTES = 16 * 1024;
const JSON_IMAGE_OVERHEAD_BYTES = 128;

/** Largest JSON body: every image at the byte limit, base64-encoded. */
export function jsonBodyLimit(maxImageBytes: number, maxImagesPerJob: number): number {
  const base64Bytes = Math.ceil(maxImageBytes / 3) * 4;
  return maxImagesPerJob * (base64Bytes + JSON_IMAGE_OVERHEAD_BYTES) + JSON_BODY_OVERHEAD_BYTES;
}

export function jobsRouter(deps: JobsRouteDeps): Router {
  const router = Router();
  const { intake } = deps;
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
    JOB_NO_IMAGE_MESSAGE,
  );
  const readBody = [boundedBody(maxBodyBytes), ...(deps.admit ? [deps.admit] : []), reserveUploadBudget(deps.uploads, maxBodyBytes), body];

  router.post('/v1/jobs', ...readBody, async (req, res) => {
    const files = uploadedFiles(req, FILE_FIELDS);
    const bodyType = req.is('multipart/form-data') ? 'multipart' : 'json';
    // Validated before anything else (the idempotency fingerprint included) looks into the body.
    const request = bodyType === 'multipart' ? readMultipartJobRequest(files, req.body, deps.maxImagesPerJob) : readJsonJobRequest(req.body, deps.maxImagesPerJob);
    const idempotency = idempotencyOf({ method: req.method, path: req.path, headers: req.headers, bodyType, body: req.body, files });
    const waitS = preferredWaitS(req);
    const { job, replayed } = await submitJob({ ...request, owner: ownerOf(res), idempotency, waitS }, intake);
    if (replayed) res.setHeader(IDEMPOTENT_REPLAYED_HEADER, 'true');
    res.location(jobPath(job.id));
    markWaitApplied(res, waitS);
    res.status(isFinished(job) ? 200 : 202).json(job);
  });

  router.get('/v1/jobs', async (req, res) => {
    res.json(await listJobs({ owner: ownerOf(res), query: readListJobsQuery(req.query) }, intake));
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const waitS = preferredWaitS(req);
    const view = await getJob({ owner: ownerOf(res), id: req.params.id, waitS }, intake);
    markWaitApplied(res, waitS);
    res.json(view);
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    res.json(await cancelJob({ owner: ownerOf(res), id: req.params.id }, intake));
  });

  router.get('/v1/jobs/:id/webhooks', async (req, res) => {
    res.json(await listJobWebhookAttempts({ owner: ownerOf(res), id: req.params.id }, intake));
  });

  return router;
}
