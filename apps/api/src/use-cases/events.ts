/**
 * A job's events as they happen (server-sent events on HTTP): its status
 * changes, a training's progress, and its final view, after which the
 * stream ends. Events live in Redis (@digitq/jobs JobEventStreams: the
 * worker records them, submit records `queued`), so any API process serves
 * any job and a client resumes after the last event id it saw.
 *
 * Owner-only like GET: another owner's job is JOB_NOT_FOUND. Each open
 * stream blocks on a Redis connection of its own, so a process serves at
 * most `EventStreamSlots.max` at once (SERVICE_UNAVAILABLE beyond).
 *
 * When the stream stays silent for a heartbeat, the job is read again: a
 * job that finished without its final event reaching the stream (a worker
 * that could not record it) still ends the stream, with its view as it is.
 */
import type { Redis } from 'ioredis';
import { AppError, QUEUE_NAMES, TERMINAL_STATUSES, type JobStatus, type JobStreamEvent } from '@digitq/contracts';
import { JobEventStreams, isEventId, type JobKind } from '@digitq/jobs';
import type { IntakeDeps } from './deps.ts';

/** A comment line this often keeps proxies and clients from timing out an idle stream; a silent stream also reads its job again. */
export const EVENT_HEARTBEAT_MS = 15_000;
/** Event streams one API process serves at once: each holds a Redis connection for its blocking read. */
export const MAX_EVENT_STREAMS = 256;
/** Told to a client refused for too many open streams. */
const STREAMS_BUSY_RETRY_AFTER_S = 5;

/** What a stream says: an event (id null when it was not recorded: the job's view read directly), or a heartbeat. */
export type JobStreamItem = { type: 'event'; id: string | null; event: JobStreamEvent; data: unknown } | { type: 'heartbeat' };

/** How many event streams are open in this process, up to `max`. */
export class EventStreamSlots {
  private open = 0;

  constructor(readonly max: number = MAX_EVENT_STREAMS) {}

  get count(): number {
    return this.open;
  }

  /** Refuses (SERVICE_UNAVAILABLE) when every slot is taken. */
  check(): void {
    if (this.open >= this.max) {
      throw new AppError('SERVICE_UNAVAILABLE', `too many event streams open (${this.max}); poll GET instead or retry later`, { retryAfterS: STREAMS_BUSY_RETRY_AFTER_S });
    }
  }

  /** Takes a slot (call check first); the returned function gives it back, once. */
  take(): () => void {
    this.check();
    this.open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
    };
  }
}

type StreamDeps = Pick<IntakeDeps, 'redis' | 'prefix'>;

function streamsOf(kind: JobKind, deps: StreamDeps): JobEventStreams {
  return new JobEventStreams(deps.redis, deps.prefix, QUEUE_NAMES[kind]);
}

/**
 * Records a just-submitted job's `queued` view as its stream's first event.
 * Best effort: the job exists whatever happens here (failing the submit would
 * make a client without Idempotency-Key submit twice), and a stream without
 * it starts from the job's view read directly.
 */
export async function recordQueued(kind: JobKind, view: { id: string }, deps: StreamDeps): Promise<void> {
  await streamsOf(kind, deps)
    .appendFirst(view.id, 'status', view)
    .catch(() => undefined);
}

/**
 * Records the final view of a job canceled while queued: it is final now
 * (no worker needs to see it first), so its stream ends now. Best effort,
 * as recordQueued; the worker that later takes the job records it again.
 */
export async function recordCanceled(kind: JobKind, view: { id: string; status: JobStatus; started_at: string | null }, deps: StreamDeps): Promise<void> {
  if (view.status !== 'canceled' || view.started_at !== null) return;
  await streamsOf(kind, deps)
    .append(view.id, 'finished', view)
    .catch(() => undefined);
}

export interface JobEventsInput {
  kind: JobKind;
  owner: string;
  id: string;
  /** The last event id the client saw (Last-Event-ID): the stream resumes after it. Null (or not an id): from the start. */
  lastEventId: string | null;
  /** Default EVENT_HEARTBEAT_MS. */
  heartbeatMs?: number;
}

export type JobEventsDeps = Pick<IntakeDeps, 'jobs' | 'trainings' | 'redis' | 'prefix' | 'shutdown'> & { slots: EventStreamSlots };

function isFinal(view: { status: JobStatus }): boolean {
  return TERMINAL_STATUSES.includes(view.status);
}

/** A connection for one stream's blocking reads: no command timeout (the read blocks a heartbeat long), commands wait for the connection. */
function blockingReader(redis: Redis): Redis {
  const reader = redis.duplicate({ commandTimeout: undefined, enableOfflineQueue: true, maxRetriesPerRequest: 0, connectionName: 'digitq-api-events' });
  // A failure reaches the read in progress; nothing else listens.
  reader.on('error', () => undefined);
  return reader;
}

/**
 * Checks that the job is the owner's (JOB_NOT_FOUND) and that a stream may
 * open (SERVICE_UNAVAILABLE), then returns its events: an async iterator
 * that ends after the final event, when `signal` aborts (the client left) or
 * at shutdown.
 */
export async function openJobEvents(input: JobEventsInput, deps: JobEventsDeps): Promise<(signal: AbortSignal) => AsyncGenerator<JobStreamItem>> {
  const { kind, owner, id } = input;
  const load = () => (kind === 'inference' ? deps.jobs.get(id, owner) : deps.trainings.get(id, owner));
  if (!(await load())) throw new AppError('JOB_NOT_FOUND', `no ${kind === 'inference' ? 'job' : 'training'} ${id}`);
  deps.slots.check();
  const streams = streamsOf(kind, deps);
  const heartbeatMs = input.heartbeatMs ?? EVENT_HEARTBEAT_MS;
  const start = input.lastEventId !== null && isEventId(input.lastEventId) ? input.lastEventId : '0';

  return async function* jobEvents(signal: AbortSignal): AsyncGenerator<JobStreamItem> {
    const release = deps.slots.take();
    const stop = deps.shutdown ? AbortSignal.any([signal, deps.shutdown]) : signal;
    let reader: Redis | null = null;
    // Ends a blocking read at once.
    const onStop = () => reader?.disconnect();
    stop.addEventListener('abort', onStop, { once: true });
    const asItem = (event: { id: string | null; event: JobStreamEvent; data: unknown }): JobStreamItem => ({ type: 'event', ...event });
    try {
      let cursor = start;
      let events: { id: string | null; event: JobStreamEvent; data: unknown }[] = await streams.after(id, cursor);
      if (events.length === 0) {
        // Nothing recorded after the cursor (expired, or the job predates its stream): the job as it is now.
        const view = await load();
        if (!view) return;
        if (isFinal(view)) {
          yield asItem({ id: null, event: 'finished', data: view });
          return;
        }
        if (cursor === '0') yield asItem({ id: null, event: 'status', data: view });
      }
      reader = blockingReader(deps.redis);
      for (;;) {
        for (const event of events) {
          yield asItem(event);
          cursor = event.id ?? cursor;
          if (event.event === 'finished') return;
        }
        if (stop.aborted) return;
        events = await streams.next(reader, id, cursor, heartbeatMs);
        if (stop.aborted) return;
        if (events.length > 0) continue;
        yield { type: 'heartbeat' };
        const view = await load();
        if (!view) return;
        if (isFinal(view)) {
          events = await streams.after(id, cursor);
          if (!events.some((event) => event.event === 'finished')) events.push({ id: null, event: 'finished', data: view });
        }
      }
    } catch (error) {
      // A read cut short by the client leaving or shutdown is the end, not a failure.
      if (!stop.aborted) throw error;
    } finally {
      stop.removeEventListener('abort', onStop);
      reader?.disconnect();
      release();
    }
  };
}
