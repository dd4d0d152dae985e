/**
 * Example bodies for the OpenAPI document, typed by the contracts so the
 * compiler keeps them in step with the schemas.
 */
import type {
  ErrorCode,
  FeedbackEntry,
  FeedbackList,
  JobList,
  JobView,
  ModelList,
  ModelVersionView,
  NotReadyResponse,
  PredictResponse,
  TrainingRequest,
  TrainingView,
  WebhookAttemptList,
  WorkerHeartbeat,
  WorkerList,
} from '@digitq/contracts';

export const EXAMPLE_JOB_ID = '0b7f6f3e-4d8a-4a53-9d8e-2f0d5c1b6a77';
const EXAMPLE_TRAINING_ID = '5f1c2a9e-7b3d-4e8f-a1c6-3d9b0e7f2a41';
const EXAMPLE_PROBABILITIES = [0.0001, 0.0002, 0.0004, 0.0011, 0.0001, 0.9912, 0.0035, 0.0001, 0.0028, 0.0005];
const EXAMPLE_PREDICTION = { prediction: 5, confidence: 0.9912, probabilities: EXAMPLE_PROBABILITIES };
/** A tiny PNG, base64 (a real upload is a photo or scan of one digit). */
export const EXAMPLE_IMAGE_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==';

export const queuedJobExample: JobView = {
  id: EXAMPLE_JOB_ID,
  status: 'queued',
  created_at: '2025-01-15T10:30:00.000Z',
  started_at: null,
  completed_at: null,
  model: { name: 'digitnet', version: null },
  input: { count: 1 },
  output: null,
  error: null,
  attempts: 0,
};

export const succeededJobExample: JobView = {
  ...queuedJobExample,
  status: 'succeeded',
  started_at: '2025-01-15T10:30:00.012Z',
  completed_at: '2025-01-15T10:30:00.031Z',
  model: { name: 'digitnet', version: 'v3' },
  output: { predictions: [EXAMPLE_PREDICTION] },
  attempts: 1,
};

export const canceledJobExample: JobView = {
  ...queuedJobExample,
  status: 'canceled',
  completed_at: '2025-01-15T10:30:02.000Z',
  error: { code: 'JOB_CANCELED', message: 'canceled at client request' },
};

export const jobListExample: JobList = { data: [succeededJobExample], next_cursor: null };

export const feedbackEntryExample: FeedbackEntry = {
  id: '3f1c2a9e0b7d4c65a1e2f3b4c5d6e7f8',
  owner: 'alice',
  job_id: EXAMPLE_JOB_ID,
  index: 0,
  label: 7,
  predicted: 1,
  model: { name: 'digitnet', version: 'v3' },
  created_at: '2025-01-15T10:31:04.210Z',
  heldback: false,
};

export const feedbackListExample: FeedbackList = { data: [feedbackEntryExample], next_cursor: null };

export const predictExample: PredictResponse = { ...EXAMPLE_PREDICTION, model: { name: 'digitnet', version: 'v3' }, job_id: EXAMPLE_JOB_ID };

export const workerExample: WorkerHeartbeat = {
  id: 'gpu-box-1-4711-gpu',
  hostname: 'gpu-box-1',
  pid: 4711,
  device: 'gpu',
  backend: 'tensorflow (gpu)',
  queues: ['inference', 'webhooks'],
  models: [{ name: 'digitnet', version: 'v3' }],
  started_at: '2025-01-15T08:00:00.000Z',
  at: '2025-01-15T10:30:00.000Z',
};

export const workerListExample: WorkerList = { data: [workerExample] };

export const notReadyExample: NotReadyResponse = {
  status: 'unavailable',
  reasons: ['workers: no worker with a loaded model consuming the inference queue reported in the last 15 s'],
};

export const webhookAttemptsExample: WebhookAttemptList = {
  data: [
    {
      event: 'job.completed',
      webhook_id: 'msg_2b1f0c3d9e8a7b6c',
      attempt: 1,
      at: '2025-01-15T10:30:00.040Z',
      status_code: 200,
      duration_ms: 87,
      error: null,
      outcome: 'delivered',
    },
  ],
};

export const trainingRequestExample: Partial<TrainingRequest> = { dataset: 'mnist', epochs: 12, batch_size: 64, model_name: 'digitnet' };

export const trainingExample: TrainingView = {
  id: EXAMPLE_TRAINING_ID,
  status: 'processing',
  created_at: '2025-01-15T10:00:00.000Z',
  started_at: '2025-01-15T10:00:01.000Z',
  completed_at: null,
  request: {
    dataset: 'mnist',
    epochs: 12,
    batch_size: 64,
    learning_rate: 0.003,
    augment: 'default',
    validation_split: 0.05,
    model_name: 'digitnet',
    architecture: 'digitnet-bn',
    seed: 1,
  },
  progress: { epoch: 3, epochs: 12, batch: 410, batches: 891, loss: 0.041, accuracy: 0.987, val_loss: 0.035, val_accuracy: 0.989, images_per_s: 5200, eta_s: 1040 },
  history: [],
  model: null,
  error: null,
};

export const modelVersionExample: ModelVersionView = {
  name: 'digitnet',
  version: 'v3',
  architecture: 'digitnet-bn',
  parameters: 112_394,
  created_at: '2025-01-14T22:10:00.000Z',
  dataset: { name: 'mnist', train_count: 57_000, validation_count: 3_000 },
  training: { epochs: 12, batch_size: 64, learning_rate: 0.003, augment: 'default', seed: 1, seconds: 1840, backend: 'tensorflow' },
  metrics: { test_accuracy: 0.9941, test_count: 10_000, test_loss: 0.019, val_accuracy: 0.9937 },
  input: { shape: [28, 28, 1] },
  files: { 'model.json': 'sha256 hex', 'weights.bin': 'sha256 hex' },
  active: true,
};

export const modelListExample: ModelList = { data: [{ name: 'digitnet', active_version: 'v3', versions: [modelVersionExample] }] };

export const metricsExample = [
  '# HELP digitq_queue_jobs Jobs per queue and state',
  '# TYPE digitq_queue_jobs gauge',
  'digitq_queue_jobs{queue="inference",state="waiting"} 12',
  '# HELP digitq_http_requests_total HTTP requests answered, by method, route pattern and status',
  '# TYPE digitq_http_requests_total counter',
  'digitq_http_requests_total{method="POST",route="/v1/jobs",status="202"} 1042',
  '',
].join('\n');

/** A message per error code, as a client would see it. Codes a job fails with (JOB_CANCELED, JOB_FAILED) are included. */
export const ERROR_MESSAGE_EXAMPLES: Record<ErrorCode | 'JOB_CANCELED' | 'JOB_FAILED', string> = {
  VALIDATION_FAILED: 'invalid form fields: priority: must be an integer from 1 to 10',
  NO_IMAGE: 'no image: send files in the multipart field "image" or a JSON body {"images": ["<base64>", ...]}',
  TOO_MANY_IMAGES: '80 images sent; at most 64 per job',
  UNAUTHORIZED: 'this API needs an API key: send Authorization: Bearer <key>',
  FORBIDDEN: 'the operator surface is closed: set ADMIN_API_KEY or ADMIN_USER and ADMIN_PASSWORD to open it',
  NOT_FOUND: 'not found',
  JOB_NOT_FOUND: `no job ${EXAMPLE_JOB_ID}`,
  FEEDBACK_NOT_FOUND: 'no feedback 3f1c2a9e0b7d4c65a1e2f3b4c5d6e7f8',
  MODEL_NOT_FOUND: 'no model digitnet@v9',
  ROUTE_NOT_FOUND: 'no route for DELETE /v1/jobs',
  CONFLICT: 'conflict',
  JOB_FINISHED: `job ${EXAMPLE_JOB_ID} already succeeded; only queued or processing jobs can be canceled`,
  JOB_NOT_SUCCEEDED: `job ${EXAMPLE_JOB_ID} is processing; only a succeeded job's answers can be corrected`,
  IDEMPOTENCY_CONFLICT: 'Idempotency-Key "order-1234" was already used with a different request; use a new key for a new request',
  PAYLOAD_TOO_LARGE: 'the request body is larger than the limit of 1048576 bytes',
  IMAGE_TOO_LARGE: 'image 1 of 1 (scan.png): 12582912 bytes; the limit is 10485760',
  IMAGE_TOO_MANY_PIXELS: 'image 1 of 1 (huge.png): 40000x40000 pixels is more than the limit',
  UNSUPPORTED_MEDIA_TYPE: 'Content-Type text/plain is not accepted here; send multipart/form-data or application/json',
  IMAGE_UNSUPPORTED_FORMAT: 'image 1 of 1 (notes.txt): not an image in a supported format (PNG, JPEG, GIF, WebP, BMP, TIFF)',
  UNPROCESSABLE: 'unprocessable',
  INDEX_OUT_OF_RANGE: `job ${EXAMPLE_JOB_ID} has 1 image; index 3 is out of range (0 to 0)`,
  IMAGE_CORRUPT: 'image 1 of 1 (half.png): the image data is truncated or corrupt',
  IMAGE_BLANK: 'image 1 of 1 (blank.png): no digit found: the image is blank',
  IMAGE_EMPTY_INPUT: 'image 1 of 1 (empty.png): the file is empty',
  IMAGE_TIMEOUT: 'image 1 of 1 (slow.tiff): decoding took too long',
  BAD_INPUT: 'bad input',
  WEBHOOK_URL_REFUSED: 'webhook URL http://10.0.0.5/hook points to a private address',
  RATE_LIMITED: 'more than 20 requests per second for this API key; retry after 1 s',
  QUEUE_FULL: 'the queue is full (10000 jobs waiting, limit 10000); retry in 5 s',
  INTERNAL: 'internal error (request 3f9c1b2e-...)',
  QUEUE_UNAVAILABLE: 'the queue is unavailable',
  SERVICE_UNAVAILABLE: 'too many uploads in progress (201326592 of 201326592 bytes in flight); retry in 1 s',
  NOT_READY: 'not ready',
  TIMEOUT: `job ${EXAMPLE_JOB_ID} did not finish within 30000 ms; it is still queued, see /v1/jobs/${EXAMPLE_JOB_ID}`,
  JOB_CANCELED: 'canceled at client request',
  JOB_FAILED: 'the job failed after 3 attempts',
};
