/**
 * Worker heartbeats: every worker process writes one to Redis every few
 * seconds (with a TTL), so the API can tell whether anything is serving
 * (GET /readyz), show who is (GET /v1/workers) and export which model
 * versions are loaded (/metrics).
 */
import { z } from 'zod';
import { modelInfoSchema } from './inference.ts';

export const workerHeartbeatSchema = z.object({
  /** `<hostname>-<pid>-<device>`, the BullMQ worker name. */
  id: z.string().min(1),
  hostname: z.string(),
  pid: z.number().int(),
  device: z.string(),
  /** The TensorFlow.js backend in use, e.g. "tensorflow (cpu)" or "wasm". */
  backend: z.string(),
  /** What serves inference here (absent on a worker without the inference queue). */
  engine: z
    .object({
      /** onnxruntime or tfjs. */
      engine: z.string(),
      threads: z.number().int(),
      /** The execution provider (cpu, cuda) or tfjs backend underneath. */
      backend: z.string(),
    })
    .optional(),
  /** Queues this process consumes. */
  queues: z.array(z.string()),
  /** Model versions loaded and ready to serve. */
  models: z.array(modelInfoSchema),
  started_at: z.string(),
  /** When this heartbeat was written. */
  at: z.string(),
});
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;
