/**
 * POST /predict: one image in, its digit out, synchronously. It is a job
 * like any other (submitted, then waited for), so a slow answer can still
 * be fetched later from the Location the 504 gives.
 */
import { Router, type RequestHandler } from 'express';
import { AppError, predictFieldsSchema, type JobView, type PredictResponse } from '@digitq/contracts';
import type { InferenceJobs } from '@digitq/jobs';
import { parseOrThrow } from '../http/validate.ts';
import { preprocessAll, type PreprocessImages } from '../images.ts';
import { boundedBody, imageBody } from '../middleware/body.ts';
import { JobFailedError } from '../middleware/error-handler.ts';
import { ownerOf } from '../middleware/owner.ts';
import { multipartBodyLimit, uploadImages, uploadedFiles } from '../middleware/upload.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import { jobPath } from './paths.ts';

export interface PredictRouteDeps {
  jobs: InferenceJobs;
  preprocess: PreprocessImages;
  maxImageBytes: number;
  /** MAX_REQUEST_BYTES: the multipart body is bounded by it too. */
  maxRequestBytes: number;
  /** The process's budget of request-body bytes in flight; a request reserves its body's share before reading it. */
  uploads: UploadBudget;
  predictTimeoutMs: number;
  /** Runs before the body is read, e.g. backpressure (429 QUEUE_FULL). */
  admit?: RequestHandler;
}

const FILE_FIELDS = ['file', 'image'] as const;
const NO_IMAGE_MESSAGE = 'no image: send one file in the multipart field "file" (or "image")';

/** The answer for a job that was waited on: its prediction, its failure, or 504 with where to look later. */
function answer(view: JobView, timeoutMs: number): PredictResponse {
  const prediction = view.output?.predictions[0];
  if (view.status === 'succeeded' && prediction && view.model?.version) {
    return { ...prediction, model: { name: view.model.name, version: view.model.version }, job_id: view.id };
  }
  if (view.status === 'failed' || view.status === 'canceled') {
    const error = view.error ?? { code: 'JOB_FAILED', message: 'the job failed' };
    throw new JobFailedError(view.id, error.code, error.message);
  }
  if (view.status === 'succeeded') throw new Error(`job ${view.id} succeeded without a prediction and model version`);
  const location = jobPath(view.id);
  throw new AppError('TIMEOUT', `job ${view.id} did not finish within ${timeoutMs} ms; it is still ${view.status}, see ${location}`, {
    headers: { Location: location },
    body: { job_id: view.id },
  });
}

export function predictRouter(deps: PredictRouteDeps): Router {
  const router = Router();
  const maxBodyBytes = Math.min(multipartBodyLimit(1, deps.maxImageBytes), deps.maxRequestBytes);
  const body = imageBody(
    {
      multipart: uploadImages({
        fileFields: FILE_FIELDS,
        maxFiles: 1,
        maxFileBytes: deps.maxImageBytes,
        maxTotalBytes: maxBodyBytes,
        tooManyFilesMessage: 'POST /predict takes exactly one image; send several to POST /v1/jobs',
      }),
    },
    NO_IMAGE_MESSAGE,
  );
  const readBody = [boundedBody(maxBodyBytes), ...(deps.admit ? [deps.admit] : []), reserveUploadBudget(deps.uploads, maxBodyBytes), body];

  router.post('/predict', ...readBody, async (req, res) => {
    const [file] = uploadedFiles(req, FILE_FIELDS);
    if (!file) throw new AppError('NO_IMAGE', NO_IMAGE_MESSAGE);
    const fields = parseOrThrow(predictFieldsSchema, req.body, 'form fields');
    const images = await preprocessAll([{ name: file.originalname, bytes: file.buffer }], deps.preprocess);
    const owner = ownerOf(res);
    const submitted = await deps.jobs.submit({ images, model: fields.model ?? null, owner, webhook: null });
    const view = (await deps.jobs.waitForFinish(submitted.id, owner, deps.predictTimeoutMs)) ?? submitted;
    res.json(answer(view, deps.predictTimeoutMs));
  });

  return router;
}
