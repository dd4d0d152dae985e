/**
 * A job's events kept in Redis, so a client can follow them (server-sent
 * events) from any API process and resume where it dropped: one Redis Stream
 * per job, `<prefix>:<queue>:events:<jobId>`, whose entry ids are the SSE
 * event ids (resuming = reading after Last-Event-ID). The API records
 * `queued` at submit; the worker that runs the job records the rest from its
 * JobEventSource (streamJobEvents). Each append refreshes the key's expiry,
 * so a stream lives JOB_EVENT_RETENTION_S past the job's last event.
 *
 * One key per job: the same on one Redis or a Cluster (the prefix's hash tag
 * keeps it in the queue's slot).
 */
import type { Redis } from 'ioredis';
import type { JobStreamEvent } from '@digitq/contracts';
import type { JobEventSource } from './job-events.ts';

/** How long a job's events are kept after its last one: long enough to reconnect, short enough to stay small. */
export const JOB_EVENT_RETENTION_S = 3600;
/** Most entries kept per job (approximate trim): a training reports progress a few times a second at most. */
export const JOB_EVENT_MAX_LEN = 1000;

export interface StoredJobEvent {
  /** The stream entry id, `<ms>-<seq>`: the SSE event id. */
  id: string;
  event: JobStreamEvent;
  data: unknown;
}

/** A Last-Event-ID this store made (anything else is read as "from the start"). */
export function isEventId(value: string): boolean {
  return /^[0-9]{1,20}-[0-9]{1,20}$/.test(value);
}

/**
 * `queued` is a stream's first event whoever records first: the API right
 * after it added the job, or the worker, which can take the job before that
 * (then the API's append is skipped). ARGV: maxLen, retentionS, then the
 * first event's name and data (written only while the stream has no
 * entries), then optionally the event to append after it.
 */
const APPEND_AFTER_FIRST = `
local first = false
if redis.call('EXISTS', KEYS[1]) == 0 then
  first = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[3], 'data', ARGV[4])
end
local id = first
if ARGV[5] then id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[5], 'data', ARGV[6]) end
if id then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return id`;

type Entries = [id: string, fields: string[]][];

function parseEntries(entries: Entries): StoredJobEvent[] {
  return entries.map(([id, fields]) => {
    const field = (name: string) => fields[fields.indexOf(name) + 1];
    return { id, event: field('event') as JobStreamEvent, data: JSON.parse(field('data') ?? 'null') as unknown };
  });
}

export interface JobEventStreamsOptions {
  /** Seconds a job's events are kept after its last one. Default JOB_EVENT_RETENTION_S. */
  retentionS?: number;
  /** Most entries per job. Default JOB_EVENT_MAX_LEN. */
  maxLen?: number;
}

export class JobEventStreams {
  private readonly retentionS: number;
  private readonly maxLen: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly queue: string,
    options: JobEventStreamsOptions = {},
  ) {
    this.retentionS = options.retentionS ?? JOB_EVENT_RETENTION_S;
    this.maxLen = options.maxLen ?? JOB_EVENT_MAX_LEN;
  }

  key(jobId: string): string {
    return `${this.prefix}:${this.queue}:events:${jobId}`;
  }

  /** Appends an event; resolves with its id. */
  async append(jobId: string, event: JobStreamEvent, data: unknown): Promise<string> {
    const key = this.key(jobId);
    const [[error, id] = [null, null]] =
      (await this.redis.multi().xadd(key, 'MAXLEN', '~', this.maxLen, '*', 'event', event, 'data', JSON.stringify(data)).expire(key, this.retentionS).exec()) ?? [];
    if (error) throw error;
    return id as string;
  }

  /** Appends `event` only as the stream's first; null when it already had events. */
  async appendFirst(jobId: string, event: JobStreamEvent, data: unknown): Promise<string | null> {
    const id = await this.redis.eval(APPEND_AFTER_FIRST, 1, this.key(jobId), this.maxLen, this.retentionS, event, JSON.stringify(data));
    return typeof id === 'string' ? id : null;
  }

  /** Appends `event`, after `first` when the stream has no entries yet (see APPEND_AFTER_FIRST); resolves with the id of `event`. */
  async appendAfter(jobId: string, first: { event: JobStreamEvent; data: unknown }, event: JobStreamEvent, data: unknown): Promise<string> {
    const args = [this.maxLen, this.retentionS, first.event, JSON.stringify(first.data), event, JSON.stringify(data)];
    return (await this.redis.eval(APPEND_AFTER_FIRST, 1, this.key(jobId), ...args)) as string;
  }

  /** The events after `afterId` ('0': all), at once. */
  async after(jobId: string, afterId: string): Promise<StoredJobEvent[]> {
    return parseEntries((await this.redis.xrange(this.key(jobId), `(${afterId}`, '+')) as Entries);
  }

  /**
   * The events after `afterId`, waiting up to `blockMs` for one on `reader`:
   * a connection of its own (a blocking read holds it), without a command
   * timeout shorter than `blockMs`. Empty when none came.
   */
  async next(reader: Redis, jobId: string, afterId: string, blockMs: number): Promise<StoredJobEvent[]> {
    const answer = (await reader.xread('BLOCK', blockMs, 'STREAMS', this.key(jobId), afterId)) as [string, Entries][] | null;
    return answer ? parseEntries(answer[0]![1]) : [];
  }
}

/**
 * Records every event of `source` in `streams` (the worker side): status
 * changes with the job's view, progress with its sequence, and the final
 * view. A failed append is reported to `onError` and never touches the job;
 * a client that missed it still gets the final view (see the API's stream,
 * which reads the job when its stream stays silent).
 */
export function streamJobEvents<View>(
  source: JobEventSource<View>,
  streams: JobEventStreams,
  onError: (error: unknown, context: { job: string | undefined; event: string }) => void,
): void {
  const record = (jobId: string | undefined, event: JobStreamEvent, data: unknown, queued?: unknown) => {
    if (jobId === undefined) return;
    const appended = queued === undefined ? streams.append(jobId, event, data) : streams.appendAfter(jobId, { event: 'status', data: queued }, event, data);
    appended.catch((error: unknown) => onError(error, { job: jobId, event: `stream ${event}` }));
  };
  // A status change may reach Redis before the API recorded `queued`: it goes first then.
  source.on('started', ({ job, view, queued }) => record(job.id, 'status', view, queued));
  source.on('progress', ({ job, progress, sequence }) => record(job.id, 'progress', { progress, sequence }));
  source.on('finished', ({ job, view, queued }) => record(job.id, 'finished', view, queued));
}
