/** What every queue consumer of a worker process shares. */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '@digitq/config';
import type { ConnectionHealth } from '@digitq/service';
import type { EngineDescription } from '@digitq/model';
import type { ModelRegistry } from '@digitq/registry';
import type { WorkerMetrics } from '../metrics.ts';

export interface ConsumerContext {
  config: Config;
  log: Logger;
  connection: Redis;
  /** Where each Queue and Worker's connection errors go: logged once per outage, see ConnectionHealth. */
  health: ConnectionHealth;
  registry: ModelRegistry;
  metrics: WorkerMetrics;
  workerId: string;
  /** --device: where inference runs (gpu never falls back to a CPU engine). */
  device: 'cpu' | 'gpu';
  /** The TensorFlow.js backend (training, and the tfjs engine). */
  backendLabel: string;
  /** Jobs a consumer takes at once (inference: micro-batch candidates). */
  concurrency: number;
}

/** A running consumer: `close` stops taking jobs and waits for those in flight. */
export interface Consumer {
  queue: string;
  ready(): Promise<void>;
  close(): Promise<void>;
  /** Model versions this consumer serves now, for heartbeats. */
  models?(): string[];
  /** What serves the default model now (engine, threads, backend), for heartbeats. */
  engine?(): EngineDescription | null;
}

/** How a consumer reports a job event it could not publish (Redis unreachable); the job itself is unaffected. */
export function logEventError(log: Logger): (error: unknown, context: { job: string | undefined; event: string }) => void {
  return (error, context) => log.error({ err: error, ...context }, 'could not publish a job event');
}
