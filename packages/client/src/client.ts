/**
 * A typed client of the digitq HTTP API, on fetch alone, for Node 20+ and
 * browsers. Its types are the API's own (packages/contracts), imported as
 * types only, so a browser bundle carries none of contracts' runtime code.
 *
 *   const digitq = new DigitqClient({ baseUrl: 'http://localhost:3000', apiKey });
 *   const { prediction } = await digitq.predict(file);
 *   const job = await digitq.wait((await digitq.submit([a, b])).id, { timeoutMs: 30_000 });
 */
import type {
  EvaluationReport,
  FeedbackDeleted,
  FeedbackEntry,
  FeedbackList,
  JobList,
  JobStatus,
  JobView,
  JobWebhookEvent,
  ListJobsQuery,
  ModelList,
  ModelVersionView,
  PredictInclude,
  PredictResponse,
  QueueCountsList,
  TrainingJobProgress,
  TrainingRequest,
  TrainingView,
  WorkerList,
} from '@digitq/contracts';
import { DigitqError, DigitqTimeoutError, DigitqUnreachableError, errorFromResponse } from './errors.ts';
import { readEventStream, type ServerSentEvent } from './event-stream.ts';

/** An image file's bytes: a File or Blob (browsers, Node), a Uint8Array or Buffer, or an ArrayBuffer. */
export type ImageInput = Blob | Uint8Array | ArrayBuffer;

export interface DigitqClientOptions {
  /** e.g. http://localhost:3000 (a path prefix, for an API behind a proxy, is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set (needed once the server has API_KEYS). */
  apiKey?: string;
  /** Sent instead of apiKey on the admin routes (activate); default apiKey. */
  adminKey?: string;
  /** Default globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface PredictOptions extends CallOptions {
  /** name, name@vN, name:variant or name@vN:variant; default the active model. */
  model?: string;
  /** Extra parts of the answer: the input the model saw, the explanation map, the engine. */
  include?: readonly PredictInclude[];
  /** Below this top probability (0..1) the answer is `prediction: null, reason: "uncertain"`; default the server's MIN_CONFIDENCE. */
  minConfidence?: number;
}

export interface SubmitOptions extends CallOptions {
  model?: string;
  /** 1 (least urgent) … 10 (most urgent); default 5. */
  priority?: number;
  /** Below this top probability (0..1) an image's prediction is null (`reason: "uncertain"`); default the server's MIN_CONFIDENCE. */
  minConfidence?: number;
  /** Called back when the job finishes (and on webhookEvents). */
  webhook?: string;
  webhookEvents?: JobWebhookEvent[];
  /** The same key with the same images returns the first job instead of a new one. */
  idempotencyKey?: string;
  /** `Prefer: wait=N`: answer with the finished job if it finishes within N seconds (the server caps N). */
  waitS?: number;
}

/**
 * How events() and wait() follow a job: `auto` reads the server-sent events
 * and polls when the server has none (404/405/501) or the stream breaks;
 * `sse` never polls; `poll` never opens a stream.
 */
export type Transport = 'auto' | 'sse' | 'poll';

export interface EventsOptions extends CallOptions {
  transport?: Transport;
}

export interface WaitOptions extends EventsOptions {
  /** Give up after this long with DigitqTimeoutError (the job carries on); default no limit. */
  timeoutMs?: number;
}

/** Training options as POST /v1/trainings takes them; every field has a server default. */
export type TrainOptions = Partial<TrainingRequest>;

/** The pictures of a version's evaluation report. */
export type ReportChartName = 'confusion' | 'reliability' | 'robustness';

interface SendInit {
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Send the admin key (adminKey, else apiKey). */
  admin?: boolean;
}

interface View {
  id: string;
  status: JobStatus;
}

/** Statuses of a job still to change; every other status is final (so a status added later ends a wait rather than hanging it). */
const RUNNING = new Set<JobStatus>(['queued', 'processing'] satisfies JobStatus[]);

/** Answers to an event-stream request that mean "no streams here": poll instead. */
const NO_STREAM_STATUSES = new Set([404, 405, 501]);

/** Where a stream got to: the last view and the last event id, to resume after. */
interface StreamCursor<V> {
  last: V | null;
  lastEventId: string | null;
}

/** Reconnections of a broken event stream (with Last-Event-ID) before polling instead. */
const STREAM_RESUMES = 2;

/** Polling: the first wait, growth per unchanged answer, and the longest wait between two reads. */
export const POLL_BACKOFF = { initialMs: 200, factor: 1.5, maxMs: 2_000 } as const;

/** The wait before the next read: back to the start after a change (something is happening), longer after each unchanged answer. */
export function nextPollDelay(previousMs: number, changed: boolean): number {
  return changed ? POLL_BACKOFF.initialMs : Math.min(previousMs * POLL_BACKOFF.factor, POLL_BACKOFF.maxMs);
}

export function isTerminal(status: JobStatus): boolean {
  return !RUNNING.has(status);
}

export class DigitqClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof globalThis.fetch;

  constructor(private readonly options: DigitqClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    // Bound: a browser's fetch called as a method of another object throws "Illegal invocation".
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** POST /predict: one image, answered when the model has read it. */
  async predict(image: ImageInput, options: PredictOptions = {}): Promise<PredictResponse> {
    const form = new FormData();
    form.append('file', toBlob(image), fileName(image, 0));
    if (options.model) form.append('model', options.model);
    if (options.include?.length) form.append('include', options.include.join(','));
    if (options.minConfidence !== undefined) form.append('min_confidence', String(options.minConfidence));
    return this.json<PredictResponse>('POST', '/predict', { body: form, signal: options.signal });
  }

  /** POST /v1/jobs: queue a job over one or more images; answers the queued (or, with waitS, perhaps finished) job. */
  async submit(images: ImageInput | ImageInput[], options: SubmitOptions = {}): Promise<JobView> {
    const form = new FormData();
    const list = Array.isArray(images) ? images : [images];
    list.forEach((image, i) => form.append('image', toBlob(image), fileName(image, i)));
    if (options.model) form.append('model', options.model);
    if (options.priority !== undefined) form.append('priority', String(options.priority));
    if (options.minConfidence !== undefined) form.append('min_confidence', String(options.minConfidence));
    if (options.webhook) form.append('webhook', options.webhook);
    if (options.webhookEvents) form.append('webhook_events_filter', options.webhookEvents.join(','));
    const headers: Record<string, string> = {};
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    if (options.waitS !== undefined) headers.Prefer = `wait=${options.waitS}`;
    return this.json<JobView>('POST', '/v1/jobs', { body: form, headers, signal: options.signal });
  }

  /** GET /v1/jobs/:id. */
  async get(id: string, options: CallOptions = {}): Promise<JobView> {
    return this.json<JobView>('GET', jobPath(id), { signal: options.signal });
  }

  /** GET /v1/jobs: this key's jobs, newest first. */
  async list(query: Partial<ListJobsQuery> = {}, options: CallOptions = {}): Promise<JobList> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.size > 0 ? `?${params}` : '';
    return this.json<JobList>('GET', `/v1/jobs${search}`, { signal: options.signal });
  }

  /** POST /v1/jobs/:id/cancel; JOB_FINISHED when it already finished. */
  async cancel(id: string, options: CallOptions = {}): Promise<JobView> {
    return this.json<JobView>('POST', `${jobPath(id)}/cancel`, { signal: options.signal });
  }

  /**
   * POST /v1/jobs/:id/feedback: image `index` (default 0) of a succeeded job is really `label`. Correcting
   * the same image again replaces its label (the same entry comes back).
   */
  async correct(id: string, correction: { label: number; index?: number }, options: CallOptions = {}): Promise<FeedbackEntry> {
    const headers = { 'Content-Type': 'application/json' };
    return this.json<FeedbackEntry>('POST', `${jobPath(id)}/feedback`, { body: JSON.stringify(correction), headers, signal: options.signal });
  }

  /** GET /v1/feedback/mine: this key's corrections, newest first. */
  async myFeedback(query: { limit?: number; cursor?: string } = {}, options: CallOptions = {}): Promise<FeedbackList> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const search = params.size > 0 ? `?${params}` : '';
    return this.json<FeedbackList>('GET', `/v1/feedback/mine${search}`, { signal: options.signal });
  }

  /** DELETE /v1/feedback/:id (one of this key's corrections), or DELETE /v1/feedback (all of them) without an id. */
  async deleteFeedback(id?: string, options: CallOptions = {}): Promise<FeedbackDeleted> {
    const path = id === undefined ? '/v1/feedback' : `/v1/feedback/${encodeURIComponent(id)}`;
    return this.json<FeedbackDeleted>('DELETE', path, { signal: options.signal });
  }

  /** The job's states as they change, ending with its final one (server-sent events, or polling; see Transport). */
  events(id: string, options: EventsOptions = {}): AsyncGenerator<JobView> {
    return this.follow<JobView>(jobPath(id), options);
  }

  /** The job once it succeeded, failed or was canceled (a failed job is returned, not thrown: see its `error`). */
  async wait(id: string, options: WaitOptions = {}): Promise<JobView> {
    return this.waitFor<JobView>(jobPath(id), id, options);
  }

  /** POST /v1/trainings. */
  async train(request: TrainOptions = {}, options: CallOptions & { idempotencyKey?: string } = {}): Promise<TrainingView> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (options.idempotencyKey) headers['Idempotency-Key'] = options.idempotencyKey;
    return this.json<TrainingView>('POST', '/v1/trainings', { body: JSON.stringify(request), headers, signal: options.signal });
  }

  /** GET /v1/trainings/:id. */
  async getTraining(id: string, options: CallOptions = {}): Promise<TrainingView> {
    return this.json<TrainingView>('GET', trainingPath(id), { signal: options.signal });
  }

  /** POST /v1/trainings/:id/cancel. */
  async cancelTraining(id: string, options: CallOptions = {}): Promise<TrainingView> {
    return this.json<TrainingView>('POST', `${trainingPath(id)}/cancel`, { signal: options.signal });
  }

  /** The training's states (progress included) as they change, ending with its final one. */
  trainingEvents(id: string, options: EventsOptions = {}): AsyncGenerator<TrainingView> {
    return this.follow<TrainingView>(trainingPath(id), options);
  }

  async waitTraining(id: string, options: WaitOptions = {}): Promise<TrainingView> {
    return this.waitFor<TrainingView>(trainingPath(id), id, options);
  }

  /** GET /v1/models. */
  async models(options: CallOptions = {}): Promise<ModelList> {
    return this.json<ModelList>('GET', '/v1/models', { signal: options.signal });
  }

  /** GET /v1/models/:name/:version. */
  async model(name: string, version: string, options: CallOptions = {}): Promise<ModelVersionView> {
    return this.json<ModelVersionView>('GET', modelPath(name, version), { signal: options.signal });
  }

  /** GET /v1/models/:name/:version/report: the version's evaluation report. */
  async modelReport(name: string, version: string, options: CallOptions = {}): Promise<EvaluationReport> {
    return this.json<EvaluationReport>('GET', `${modelPath(name, version)}/report`, { signal: options.signal });
  }

  /** GET /v1/models/:name/:version/report/<chart>.svg: one of the report's pictures as SVG text (`dataset`, `compareTo`: see the API). */
  async modelReportChart(name: string, version: string, chart: ReportChartName, options: CallOptions & { dataset?: string; compareTo?: string } = {}): Promise<string> {
    const query = new URLSearchParams({ ...(options.dataset && { dataset: options.dataset }), ...(options.compareTo && { compare_to: options.compareTo }) }).toString();
    const path = `${modelPath(name, version)}/report/${chart}.svg${query ? `?${query}` : ''}`;
    const response = await this.send('GET', path, { signal: options.signal, headers: { Accept: 'image/svg+xml' } });
    if (!response.ok) throw await errorFromResponse(response);
    return response.text();
  }

  /** POST /v1/models/:name/:version/activate (admin: sends adminKey when set). */
  async activate(name: string, version: string, options: CallOptions = {}): Promise<ModelVersionView> {
    return this.json<ModelVersionView>('POST', `${modelPath(name, version)}/activate`, { signal: options.signal, admin: true });
  }

  /** GET /v1/queues: jobs per state in each queue. */
  async queues(options: CallOptions = {}): Promise<QueueCountsList> {
    return this.json<QueueCountsList>('GET', '/v1/queues', { signal: options.signal });
  }

  /** GET /v1/workers. */
  async workers(options: CallOptions = {}): Promise<WorkerList> {
    return this.json<WorkerList>('GET', '/v1/workers', { signal: options.signal });
  }

  // --- Transport ---

  private async send(method: string, path: string, init: SendInit = {}): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const key = init.admin ? (this.options.adminKey ?? this.options.apiKey) : this.options.apiKey;
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    if (key) headers.Authorization = `Bearer ${key}`;
    try {
      return await this.fetchImpl(url, { method, headers, body: init.body ?? null, signal: init.signal ?? null });
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      throw new DigitqUnreachableError(url, { cause: error });
    }
  }

  private async json<T>(method: string, path: string, init: SendInit = {}): Promise<T> {
    const response = await this.send(method, path, init);
    if (!response.ok) throw await errorFromResponse(response);
    return (await response.json()) as T;
  }

  /** A view's states: from its event stream when there is one, else (or once it breaks) by polling. */
  private async *follow<V extends View>(path: string, options: EventsOptions): AsyncGenerator<V> {
    const transport = options.transport ?? 'auto';
    const cursor: StreamCursor<V> = { last: null, lastEventId: null };
    if (transport !== 'poll') {
      // A stream that breaks after an event with an id is resumed after it (Last-Event-ID), a few times, before polling.
      for (let attempt = 0; attempt <= STREAM_RESUMES; attempt++) {
        const resumeFrom = cursor.lastEventId;
        try {
          for await (const view of this.stream<V>(path, cursor, options.signal)) {
            yield view;
            if (isTerminal(view.status)) return;
          }
        } catch (error) {
          if (options.signal?.aborted) throw options.signal.reason;
          if (transport === 'sse' || !streamUnavailable(error)) throw error;
        }
        // Resume only a stream that got further than the last one.
        if (cursor.lastEventId === null || cursor.lastEventId === resumeFrom) break;
      }
      if (transport === 'sse') throw new DigitqUnreachableError(`${this.baseUrl}${path}/events`, { cause: new Error('the event stream ended before the final state') });
    }
    // Polling picks up where the stream left off: each read is the whole state, so no change is lost but intermediate ones.
    yield* this.poll<V>(path, cursor.last, options.signal);
  }

  private async *stream<V extends View>(path: string, cursor: StreamCursor<V>, signal: AbortSignal | undefined): AsyncGenerator<V> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (cursor.lastEventId) headers['Last-Event-ID'] = cursor.lastEventId;
    const response = await this.send('GET', `${path}/events`, { headers, signal });
    if (!response.ok) throw await errorFromResponse(response);
    if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
      await response.body?.cancel();
      throw new StreamUnavailable(`${path}/events answered ${response.headers.get('content-type') ?? 'no content type'}`);
    }
    for await (const event of readEventStream(response.body)) {
      if (event.id) cursor.lastEventId = event.id;
      const view: V | null = viewOf<V>(event, cursor.last);
      if (!view) continue;
      cursor.last = view;
      yield view;
    }
  }

  private async *poll<V extends View>(path: string, seen: V | null, signal: AbortSignal | undefined): AsyncGenerator<V> {
    let delayMs: number = POLL_BACKOFF.initialMs;
    let previous = seen ? JSON.stringify(seen) : null;
    for (;;) {
      const view: V = await this.json<V>('GET', path, { signal });
      const current = JSON.stringify(view);
      const changed = current !== previous;
      if (changed) {
        yield view;
        previous = current;
      }
      delayMs = nextPollDelay(delayMs, changed);
      if (isTerminal(view.status)) return;
      await sleep(delayMs, signal);
    }
  }

  private async waitFor<V extends View>(path: string, id: string, options: WaitOptions): Promise<V> {
    const controller = new AbortController();
    const forward = () => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) throw options.signal.reason;
    options.signal?.addEventListener('abort', forward, { once: true });
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, options.timeoutMs);
    let last: V | null = null;
    try {
      for await (const view of this.follow<V>(path, { transport: options.transport, signal: controller.signal })) {
        last = view;
        if (isTerminal(view.status)) return view;
      }
      throw new Error(`${path}: the updates ended before a final state`);
    } catch (error) {
      if (timedOut) throw new DigitqTimeoutError(id, options.timeoutMs!, last?.status ?? null);
      throw error;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', forward);
    }
  }
}

/** The event stream's answer was not a stream (a proxy's page, an old server): poll instead. */
class StreamUnavailable extends Error {
  override readonly name = 'StreamUnavailable';
}

/** Whether a failed stream should give way to polling: no stream endpoint, or the stream itself failed; not an auth or lookup error. */
function streamUnavailable(error: unknown): boolean {
  if (error instanceof DigitqError) return NO_STREAM_STATUSES.has(error.status);
  // StreamUnavailable, DigitqUnreachableError, or a read that failed mid-stream (connection reset).
  return true;
}

/**
 * The view after one event: `status` and `finished` carry the whole view;
 * `progress` carries a training's progress ({progress, sequence}, progress
 * being the training's {progress, history}), merged into the last view.
 * Anything else (an event this client does not know) is skipped.
 */
function viewOf<V extends View>(event: ServerSentEvent, last: V | null): V | null {
  let data: unknown;
  try {
    data = JSON.parse(event.data);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const record = data as Record<string, unknown>;
  if (event.event === 'progress') {
    const reported = record.progress as Partial<TrainingJobProgress> | undefined;
    if (!last || !reported?.progress) return null;
    return { ...last, progress: reported.progress, ...(reported.history ? { history: reported.history } : {}) };
  }
  if (typeof record.id === 'string' && typeof record.status === 'string') return record as unknown as V;
  return null;
}

function toBlob(image: ImageInput): Blob {
  if (image instanceof Blob) return image;
  // A copy: Blob parts must be ArrayBuffer-backed, and a Node Buffer may be a view into a shared pool.
  return new Blob([image instanceof ArrayBuffer ? image : new Uint8Array(image)]);
}

function fileName(image: ImageInput, index: number): string {
  return typeof File !== 'undefined' && image instanceof File && image.name ? image.name : `image-${index + 1}`;
}

const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`;
const trainingPath = (id: string) => `/v1/trainings/${encodeURIComponent(id)}`;
const modelPath = (name: string, version: string) => `/v1/models/${encodeURIComponent(name)}/${encodeURIComponent(version)}`;

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
