/**
 * Worker metrics (prom-client). Each worker process owns a registry and can
 * serve it on `--metrics-port` for Prometheus to scrape.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { liveTensorCount } from '@digitq/model';

export function createWorkerMetrics(labels: { device: string; backend: string }) {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    batchSize: new Histogram({
      name: 'digitq_inference_batch_images',
      help: 'Images per forward pass (micro-batch size)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'digitq_inference_batch_seconds',
      help: 'Duration of one forward pass',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    jobSeconds: new Histogram({
      name: 'digitq_job_processing_seconds',
      help: 'From pickup by a worker to result, per job',
      labelNames: ['queue', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600, 3600],
      registers: [registry],
    }),
    jobWaitSeconds: new Histogram({
      name: 'digitq_job_wait_seconds',
      help: 'From submission to pickup by a worker, per job',
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
