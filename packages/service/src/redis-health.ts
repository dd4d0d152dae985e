/**
 * Redis outages as operators and clients see them.
 *
 * isRedisUnavailableError tells an outage (no connection, a command that timed
 * out) from a real error (a bad command, a script error), for the API's 503.
 *
 * ConnectionHealth turns ioredis's and BullMQ's per-attempt error events
 * (every reconnect attempt of every connection emits one, several per second)
 * into two lines per outage: "redis connection lost" (warn) when the first
 * source fails, and "redis connection restored after N failed attempts, X s"
 * (info) once every source that failed is ready again. Errors that are not
 * about the connection are still logged one by one.
 */
import type { Logger } from 'pino';

/**
 * ioredis rejects with plain Errors that only their messages tell apart:
 * a command refused while disconnected (enableOfflineQueue: false), a
 * command without an answer within commandTimeout, a closed connection.
 */
const UNAVAILABLE_MESSAGES: ReadonlySet<string> = new Set([
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'Connection is closed.',
]);
/** ioredis's MaxRetriesPerRequestError (not exported) and BullMQ's ConnectionClosedError, by name. */
const UNAVAILABLE_NAMES: ReadonlySet<string> = new Set(['MaxRetriesPerRequestError', 'ConnectionClosedError']);
/** Socket and DNS failures of a connection attempt. */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** How deep into `cause` chains to look for the outage behind a wrapped error. */
const MAX_CAUSE_DEPTH = 3;

/** True when `error` (or what caused it) says Redis is unreachable or did not answer in time, not that a command was wrong. */
export function isRedisUnavailableError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (UNAVAILABLE_MESSAGES.has(current.message) || UNAVAILABLE_NAMES.has(current.name) || (code !== undefined && NETWORK_ERROR_CODES.has(code))) return true;
    current = current.cause;
  }
  return false;
}

/**
 * What emits a connection's events: an ioredis client ('error', 'ready'), or
 * a BullMQ Queue, QueueEvents or Worker ('error'; its backend emits 'ready'
 * whenever one of its connections is ready again).
 */
export interface ConnectionEventSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
  getBackend?(): { on(event: 'ready', listener: () => void): unknown };
}

interface ReadyEmitter {
  on(event: 'ready' | 'reconnecting', listener: () => void): unknown;
  /** ioredis: 'ready' while connected. */
  status?: string;
}

const MS_PER_S = 1000;
/** What a connection that closed without an error event is reported as. */
const CONNECTION_CLOSED = { message: 'connection closed; reconnecting' };
/** How long after an error seen while ready the connection's status is looked at again. */
const LATE_ERROR_CHECK_MS = 20;

/** A short, stack-free description of a connection error: the outage line needs what failed, not where. */
function describe(error: Error): { message: string; code?: string } {
  const code = (error as NodeJS.ErrnoException).code;
  return code === undefined ? { message: error.message } : { message: error.message, code };
}

/**
 * One process's view of its Redis connections. `watch` each connection and
 * each BullMQ object (they forward their connections' errors, often the same
 * Error object several times: counted once).
 */
export class ConnectionHealth {
  private readonly down = new Set<string>();
  private readonly counted = new WeakSet<Error>();
  private failedAttempts = 0;
  private since = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `source`'s errors (connection errors once per outage) and notices when it is ready again. */
  watch(component: string, source: ConnectionEventSource): void {
    const ready: ReadyEmitter = typeof source.getBackend === 'function' ? source.getBackend() : (source as unknown as ReadyEmitter);
    // An error can be delivered after the connection is ready again (a command refused while it was still
    // connecting, reported late): counted as an outage, it would stay "down" with no 'ready' to come, and hide
    // the next real outage's line. But the first sign of a real outage (ECONNRESET) also comes while the
    // status still says ready, its 'close' a moment later: so an error seen while ready is judged once the
    // socket's own events have run.
    source.on('error', (error) => {
      if (ready.status === 'ready' && isRedisUnavailableError(error)) {
        setTimeout(() => {
          if (ready.status !== 'ready') this.onError(component, error);
        }, LATE_ERROR_CHECK_MS).unref();
        return;
      }
      this.onError(component, error);
    });
    ready.on('ready', () => this.onReady(component));
    // A connection that closed and is being re-established is an outage even if no attempt fails: Redis
    // restarted quickly may be back before the first retry, yet commands were refused in between.
    ready.on('reconnecting', () => this.onLost(component, CONNECTION_CLOSED));
  }

  /** True while some watched source has lost its connection. */
  get outage(): boolean {
    return this.down.size > 0;
  }

  private onError(component: string, error: Error): void {
    if (!isRedisUnavailableError(error)) {
      this.log.error({ err: error, component }, `${component} error`);
      return;
    }
    if (!this.counted.has(error)) {
      this.counted.add(error);
      this.failedAttempts++;
    }
    this.onLost(component, describe(error));
  }

  private onLost(component: string, error: { message: string; code?: string }): void {
    if (this.down.has(component)) return;
    const first = this.down.size === 0;
    this.down.add(component);
    if (!first) return;
    this.since = this.now();
    this.failedAttempts = 1;
    this.log.warn({ component, error }, 'redis connection lost; retrying (logged again when it is restored)');
  }

  private onReady(component: string): void {
    if (!this.down.delete(component) || this.down.size > 0) return;
    const downS = Number(((this.now() - this.since) / MS_PER_S).toFixed(1));
    this.log.info(
      { failed_attempts: this.failedAttempts, down_s: downS },
      `redis connection restored after ${this.failedAttempts} failed attempts, ${downS} s`,
    );
    this.failedAttempts = 0;
  }
}
