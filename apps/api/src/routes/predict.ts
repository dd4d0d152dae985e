/** POST /predict: one image in, its digit out, synchronously (use-cases/predict.ts). */
import { Router, type RequestHandler } from 'express';
import { PREDICT_NO_IMAGE_MESSAGE, readPredictRequest } from '../intake/requests.ts';
import { boundedBody, imageBody } from '../middleware/body.ts';
import { ownerOf } from '../middleware/owner.ts';
import { multipartBodyLimit, uploadImages, uploadedFiles } from '../middleware/upload.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import type { IntakeDeps } from '../use-cases/deps.ts';
import { predictDigit } from '../use-cases/predict.ts';

export interface PredictRouteDeps {
  intake: IntakeDeps;
  maxImageBytes: number;
  /** MAX_REQUEST_BYTES: the multipart body is bounded by it too. */
  maxRequestBytes: number;
  /** The process's budget of request-body bytes in flight; a request reserves its body's share before reading it. */
  uploads: UploadBudget;
  /** Runs before the body is read, e.g. backpressure (429 QUEUE_FULL). */
  admit?: RequestHandler;
}

const FILE_FIELDS = ['file', 'image'] as const;

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
    PREDICT_NO_IMAGE_MESSAGE,
  );
  const readBody = [boundedBody(maxBodyBytes), ...(deps.admit ? [deps.admit] : []), reserveUploadBudget(deps.uploads, maxBodyBytes), body];

  router.post('/predict', ...readBody, async (req, res) => {
    const request = readPredictRequest(uploadedFiles(req, FILE_FIELDS), req.body);
    res.json(await predictDigit({ ...request, owner: ownerOf(res) }, deps.intake));
  });

  return router;
}
