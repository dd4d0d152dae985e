/**
 * Worker metrics (prom-client). Each worker process owns a registry and can
 * serve it on `--metrics-port` for Prometheus to scrape.
 *
 * As Triton's users read theirs: time in the queue (digitq_job_queue_seconds,
 * submission to pickup) apart from compute time (digitq_inference_compute_seconds,
 * one forward pass), the batch size, and requests per outcome, by model and
 * version. deploy/grafana/digitq.json charts them.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_MODEL_VARIANT, parseModelRef } from '@digitq/contracts';
import { liveTensorCount } from '@digitq/model';

export function createWorkerMetrics(labels: { device: string; backend: string }) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    batchSize: new Histogram({
      name: 'digitq_inference_batch_images',
      help: 'Images per forward pass (micro-batch size), by model and version; its _sum counts the images predicted',
      labelNames: ['model', 'version'] as const,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    computeSeconds: new Histogram({
      name: 'digitq_inference_compute_seconds',
      help: 'Compute time: one forward pass of a micro-batch (packing its input to the predictions), by model and version',
      labelNames: ['model', 'version'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    inferenceRequests: new Counter({
      name: 'digitq_inference_requests_total',
      help: 'Inference jobs finished, by model, version and outcome (succeeded, failed); version "unknown" when a job failed before its version was resolved',
      labelNames: ['model', 'version', 'outcome'] as const,
      registers: [registry],
    }),
    jobSeconds: new Histogram({
      name: 'digitq_job_processing_seconds',
      help: 'From pickup by a worker to result, per job',
      labelNames: ['queue', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600],
      registers: [registry],
    }),
    jobQueueSeconds: new Histogram({
      name: 'digitq_job_queue_seconds',
      help: 'Queue time: from submission to pickup by a worker, per job (a job held for its micro-batch after pickup is not counted)',
      labelNames: ['queue'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 600],
      registers: [registry],
    }),
    jobs: new Counter({
      name: 'digitq_jobs_total',
      help: 'Jobs finished by this worker',
      labelNames: ['queue', 'outcome'],
      registers: [registry],
    }),
    webhookAttempts: new Counter({
      name: 'digitq_webhook_attempts_total',
      help: 'Webhook delivery attempts by event and outcome (delivered, retrying, failed, gone)',
      labelNames: ['event', 'outcome'],
      registers: [registry],
    }),
    engine: new Gauge({
      name: 'digitq_inference_engine_info',
      help: 'The engine serving each loaded model version (1 per engine, threads and model)',
      labelNames: ['engine', 'threads', 'engine_backend', 'model'],
      registers: [registry],
    }),
    tfTensors: new Gauge({
      name: 'digitq_tf_tensors',
      help: 'Tensors alive in TensorFlow.js (tf.memory().numTensors): flat under load, or something leaks',
      registers: [registry],
      collect() {
        this.set(liveTensorCount());
      },
    }),
    shadowJobs: new Counter({
      name: 'digitq_shadow_jobs_total',
      help: 'Live inference jobs offered to the shadow model (SHADOW_MODEL), by its model and version and outcome: compared, failed (the shadow path failed; the job did not), skipped (too many waiting, or the shadow version answered the job itself)',
      labelNames: ['model', 'version', 'outcome'] as const,
      registers: [registry],
    }),
    shadowPredictions: new Counter({
      name: 'digitq_shadow_predictions_total',
      help: 'Images the shadow model read after the active version answered them, by shadow model and version',
      labelNames: ['model', 'version'] as const,
      registers: [registry],
    }),
    shadowAgreements: new Counter({
      name: 'digitq_shadow_agreements_total',
      help: "Images on which the shadow model read the active version's digit, by shadow model and version (agreement = this / digitq_shadow_predictions_total)",
      labelNames: ['model', 'version'] as const,
      registers: [registry],
    }),
    shadowComputeSeconds: new Histogram({
      name: 'digitq_shadow_compute_seconds',
      help: "Per shadowed job, by role: the active version's forward pass that served it (its micro-batch) and the shadow model's over the same images; model and version are the shadow model's",
      labelNames: ['model', 'version', 'role'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    webhookAttemptSeconds: new Histogram({
      name: 'digitq_webhook_attempt_seconds',
      help: 'From connecting to the receiver to its answer (or the error), per attempt',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** A failed job's version label when it did not pin one (it asked for whichever is active). */
const UNRESOLVED_VERSION = 'unknown';

/** The model and version labels of a model that ran; a variant other than fp32 is part of the version (`v2:int8`), as in model references. */
export function modelLabels(model: { name: string; version: string; variant?: string }): { model: string; version: string } {
  const variant = model.variant && model.variant !== DEFAULT_MODEL_VARIANT ? `:${model.variant}` : '';
  return { model: model.name, version: `${model.version}${variant}` };
}

/** The labels of what a job asked for (its model reference, or the default model), when it failed before a version was resolved. */
export function requestedModelLabels(ref: string | null | undefined, defaultModel: string): { model: string; version: string } {
  if (!ref) return { model: defaultModel, version: UNRESOLVED_VERSION };
  try {
    const parsed = parseModelRef(ref);
    return { model: parsed.name, version: parsed.version ? `${parsed.version}${parsed.variant ? `:${parsed.variant}` : ''}` : UNRESOLVED_VERSION };
  } catch {
    return { model: defaultModel, version: UNRESOLVED_VERSION };
  }
}

export async function serveMetrics(registry: Registry, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
