/**
 * API_PROCESSES > 1: this process is the primary of a node:cluster. It forks
 * the API processes, which share PORT (the primary accepts the connections
 * and hands them out in turn); restarts one that exits on its own after a
 * short backoff that doubles while it keeps crashing (@digitq/service's
 * restart policy), and gives up, exiting 1, on one that cannot even start;
 * passes SIGTERM on to every process at shutdown and waits for them; and
 * answers their requests for the metrics of all of them together, so that
 * GET /metrics, whichever process serves it, counts the whole machine
 * (prom-client's AggregatorRegistry: counters and histograms summed, the
 * gauges read from Redis taken once). It serves no request itself and opens
 * no Redis connection.
 *
 * Signals: a terminal's Ctrl-C reaches every process of its group; the API
 * processes ignore SIGINT and drain on the SIGTERM the primary sends them, so
 * each drains once. A second Ctrl-C or SIGTERM to the primary kills them.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { NO_RESTARTS, decideAfterExit, handleShutdownSignals, type Logger, type RestartHistory, type RestartPolicy } from '@digitq/service';
import type { MetricsSource } from './http/routes.ts';

/** Restarts begin fast (a request-serving process is missed at once) and back off to at most 10 s while it keeps crashing. */
export const API_PROCESS_RESTART_POLICY: RestartPolicy = {
  firstDelayMs: 500,
  maxDelayMs: 10_000,
  healthyAfterMs: 30_000,
  maxFailedStarts: 5,
};
/** Beyond SHUTDOWN_TIMEOUT_MS (each process's own deadline), time for a process to write what it abandoned and exit. */
const EXIT_GRACE_MS = 1000;
/** A process's request for everyone's metrics gives up after this (the primary's own collection gives up at 5 s). */
const METRICS_TIMEOUT_MS = 6000;
const METRICS_REQUEST = 'digitq:metrics-request';
const METRICS_ANSWER = 'digitq:metrics-answer';

interface MetricsMessage {
  type: typeof METRICS_REQUEST | typeof METRICS_ANSWER;
  id: number;
  text?: string;
  error?: string;
}

function isMetricsMessage(message: unknown, type: MetricsMessage['type']): message is MetricsMessage {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

export interface ApiProcessesOptions {
  /** API_PROCESSES. */
  processes: number;
  /** SHUTDOWN_TIMEOUT_MS: each process's own drain deadline; the primary kills what is still running a moment after it. */
  shutdownTimeoutMs: number;
  /** HOST, for the URL of the "api listening" line. */
  host: string;
  restartPolicy?: RestartPolicy;
}

interface Slot {
  /** 1-based, for log lines. */
  number: number;
  worker: Worker | null;
  startedAt: number;
  listenedAt: number | null;
  history: RestartHistory;
  restartTimer: NodeJS.Timeout | null;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/** Runs the primary: forks the API processes and supervises them until shutdown. */
export function runApiProcesses(options: ApiProcessesOptions, log: Logger): void {
  const policy = options.restartPolicy ?? API_PROCESS_RESTART_POLICY;
  const aggregator = new AggregatorRegistry();
  const slots: Slot[] = Array.from({ length: options.processes }, (_, i) => ({
    number: i + 1,
    worker: null,
    startedAt: 0,
    listenedAt: null,
    history: NO_RESTARTS,
    restartTimer: null,
  }));
  let stopping = false;
  let announced = false;
  const running = () => slots.flatMap((slot) => (slot.worker && !slot.worker.isDead() ? [slot.worker] : []));

  const answerMetrics = (worker: Worker, message: unknown) => {
    if (!isMetricsMessage(message, METRICS_REQUEST)) return;
    const reply = (answer: Partial<MetricsMessage>) => {
      if (worker.isConnected()) worker.send({ type: METRICS_ANSWER, id: message.id, ...answer } satisfies MetricsMessage);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  };

  const start = (slot: Slot) => {
    const worker = cluster.fork();
    Object.assign(slot, { worker, startedAt: Date.now(), listenedAt: null, restartTimer: null });
    worker.on('message', (message: unknown) => answerMetrics(worker, message));
    worker.on('listening', (address) => {
      slot.listenedAt = Date.now();
      if (announced || slots.some((each) => each.listenedAt === null)) return;
      announced = true;
      const pids = slots.map((each) => each.worker?.process.pid);
      log.info({ url: `http://${options.host}:${address.port}`, processes: options.processes, pids }, 'api listening');
    });
    worker.once('exit', (code, signal) => onExit(slot, worker, code, signal));
  };

  const stopAll = async () => {
    stopping = true;
    for (const slot of slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const workers = running();
    const exits = workers.map((worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))));
    for (const worker of workers) worker.process.kill('SIGTERM');
    await Promise.all(exits);
  };

  const onExit = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) return;
    const decision = decideAfterExit(slot.history, { startedAt: slot.startedAt, readyAt: slot.listenedAt, exitedAt: Date.now() }, policy);
    slot.history = decision.history;
    const fields = { process: slot.number, child_pid: worker.process.pid, code, signal };
    if (decision.action === 'give-up') {
      log.fatal({ ...fields, failed_starts: decision.history.failedStarts }, `api process ${slot.number} exited ${decision.history.failedStarts} times in a row before it listened (last: ${describeExit(code, signal)}); stopping`);
      void stopAll().then(() => process.exit(1));
      return;
    }
    log.warn(
      { ...fields, restart: decision.history.restarts, delay_ms: decision.delayMs },
      `api process ${slot.number} exited unexpectedly (${describeExit(code, signal)}); restart ${decision.history.restarts} in ${decision.delayMs} ms`,
    );
    slot.restartTimer = setTimeout(() => start(slot), decision.delayMs);
  };

  for (const slot of slots) start(slot);
  handleShutdownSignals(log, (_signal, steps) => steps.run('stop api processes', stopAll), {
    timeoutMs: options.shutdownTimeoutMs + EXIT_GRACE_MS,
    unfinished: () => ({ api_processes: running().map((worker) => worker.process.pid) }),
    // Past the deadline, or on a second signal: nothing is left to wait for.
    exit: (code) => {
      for (const worker of running()) worker.process.kill('SIGKILL');
      process.exit(code);
    },
  });
}

/**
 * In an API process of a cluster: GET /metrics answers the metrics of every
 * process, which the primary gathers (from `registry` of each, set here as
 * the registry prom-client hands it).
 */
export function clusterMetricsSource(registry: Registry): MetricsSource {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's listener that answers the primary's requests for this process's metrics.
  new AggregatorRegistry();
  let nextId = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message, METRICS_ANSWER)) return;
    const request = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) request?.reject(new Error(`metrics of the API processes: ${message.error}`));
    else request?.resolve(message.text ?? '');
  });
  return {
    contentType: registry.contentType,
    metrics: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`metrics of the API processes: no answer from the primary within ${METRICS_TIMEOUT_MS} ms`));
        }, METRICS_TIMEOUT_MS);
        const settle = <T>(done: (value: T) => void) => (value: T) => {
          clearTimeout(timer);
          done(value);
        };
        pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
        process.send?.({ type: METRICS_REQUEST, id } satisfies MetricsMessage);
      }),
  };
}
