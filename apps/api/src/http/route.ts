/**
 * A route of the HTTP API as data: what it is (method, path, operation,
 * who may call it, what body it reads), how it is documented (request parts,
 * responses, error codes) and its handler, which maps a plain request to a
 * use case and the result to `{status, headers, body}`. The route table
 * (routes.ts) lists every route once; the Express adapter
 * (express-adapter.ts) and the OpenAPI document (openapi.ts) both walk it,
 * so no path is written twice. The shape is bull-board's (packages/api
 * routes.ts and its handlers; packages/express is its adapter).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ResponseConfig, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { ErrorCode } from '@digitq/contracts';
import type { UploadedFile } from '../intake/requests.ts';

/**
 * Who may call a route: anyone (probes, the document); an API key (the
 * client API: the key's id is the request's owner); the admin (the operator
 * surface, see middleware/admin-auth.ts).
 */
export type Access = 'public' | 'apiKey' | 'admin';

/** What body a route reads, with its limits; the adapter bounds and parses it before the handler runs. */
export type RouteBody =
  | { kind: 'none' }
  /** A JSON body of at most `maxBytes`; any other content type is 415. */
  | { kind: 'json'; maxBytes: number }
  /** Images as multipart/form-data files (and, with `json`, as base64 in a JSON body). */
  | {
      kind: 'images';
      /** Names of the file fields accepted, in the order the handler sees their files. */
      fileFields: readonly string[];
      maxFiles: number;
      maxFileBytes: number;
      json: boolean;
      /** Said when more than maxFiles files arrive. */
      tooManyFilesMessage: string;
      /** Said when there is no body at all. */
      noImageMessage: string;
    };

/** A request as a handler sees it: plain data, no framework. */
export interface HttpRequest {
  method: string;
  /** The path as requested, without the query string. */
  path: string;
  params: Record<string, string>;
  /** The parsed query string. */
  query: unknown;
  headers: IncomingHttpHeaders;
  /** The API key's owner on `apiKey` routes, null on the others. */
  owner: string | null;
  /** How the body came: a form, JSON, or none. */
  bodyType: 'multipart' | 'json' | null;
  /** The parsed JSON body, or a form's text fields. */
  body: unknown;
  /** A form's files, in the order of the route's fileFields, then arrival. */
  files: UploadedFile[];
}

/** One server-sent event as the adapter writes it (`data` may span lines). */
export interface ServerSentEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Where a streaming answer writes: events, and comment lines (heartbeats), each sent at once. */
export interface EventSink {
  event(event: ServerSentEvent): void;
  comment(text: string): void;
}

/**
 * A `text/event-stream` answer: `write` sends events until it resolves (the
 * answer then ends) or `signal` aborts (the client went away; it must then
 * return soon).
 */
export type EventStreamAnswer = (sink: EventSink, signal: AbortSignal) => Promise<void>;

/** An answer: a JSON `body`, `text` in another media type (Prometheus metrics), a `file` to download, or an event `stream`. */
export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  text?: { contentType: string; content: string };
  /** Bytes sent as an attachment named `filename` (Content-Disposition), e.g. a zip export. */
  file?: { contentType: string; filename: string; content: Uint8Array };
  stream?: EventStreamAnswer;
}

/** A code a route may answer; a failed job's own codes carry their status with them. */
export type DocumentedError = ErrorCode | { code: 'JOB_CANCELED' | 'JOB_FAILED'; status: number };

export interface Route {
  method: 'get' | 'post' | 'delete';
  /** Express syntax (`/v1/jobs/:id`); the document says `/v1/jobs/{id}`. */
  path: string;
  operationId: string;
  tags: [string];
  summary: string;
  description?: string;
  access: Access;
  body: RouteBody;
  /** Admission before the body is read: refused with 429 QUEUE_FULL while the queue is full. */
  admit?: boolean;
  /** The documented request parts (params, query, headers, body media types). */
  request?: RouteConfig['request'];
  /** The documented successful answers. */
  responses: Record<number, ResponseConfig>;
  /** The codes it may answer; `apiKey` routes may also answer UNAUTHORIZED, RATE_LIMITED and INTERNAL. */
  errors: readonly DocumentedError[];
  handler: (request: HttpRequest) => Promise<HttpResponse>;
}

/** The owner of an `apiKey` route's request; asking on another route is a bug. */
export function ownerOf(request: HttpRequest): string {
  if (request.owner === null) throw new Error(`no owner on ${request.method} ${request.path}: only apiKey routes have one`);
  return request.owner;
}
