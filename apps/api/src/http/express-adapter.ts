/**
 * The route table on Express: each route mounted with the middleware its
 * entry asks for, in this order: the admin guard (admin routes), then for a
 * route with a body: the header checks (compressed or declared-too-large
 * bodies, refused unread), admission (backpressure), the upload budget, and
 * the body parser; then the handler, given a plain HttpRequest, its answer
 * sent as it says. API-key auth and the rate limit are mounted by app.ts in
 * front of the router of `apiKey` routes, so they also cover unknown paths.
 */
import { Router, type Request, type RequestHandler, type Response } from 'express';
import { AppError } from '@digitq/contracts';
import { boundedBody, imageBody, jsonBody } from '../middleware/body.ts';
import { ownerOf } from '../middleware/owner.ts';
import { multipartBodyLimit, uploadImages, uploadedFiles } from '../middleware/upload.ts';
import { reserveUploadBudget, type UploadBudget } from '../middleware/upload-budget.ts';
import type { EventSink, EventStreamAnswer, HttpRequest, HttpResponse, Route, RouteBody } from './route.ts';

export interface ExpressAdapterDeps {
  /** In front of `admin` routes (middleware/admin-auth.ts). */
  adminGuard: RequestHandler;
  /** Before an `admit` route reads its body, e.g. backpressure (429 QUEUE_FULL). */
  admit: RequestHandler;
  /** The process's budget of request-body bytes in flight; a request reserves its body's share before reading it. */
  uploads: UploadBudget;
  /** MAX_REQUEST_BYTES: image bodies (JSON, and the files of a form together) are bounded by it too. */
  maxRequestBytes: number;
}

/** JSON around the images: keys, quotes, a data: URL prefix per image, the other fields. */
const JSON_BODY_OVERHEAD_BYTES = 16 * 1024;
const JSON_IMAGE_OVERHEAD_BYTES = 128;

/** Largest JSON body: every image at the byte limit, base64-encoded. */
export function jsonBodyLimit(maxImageBytes: number, maxImages: number): number {
  const base64Bytes = Math.ceil(maxImageBytes / 3) * 4;
  return maxImages * (base64Bytes + JSON_IMAGE_OVERHEAD_BYTES) + JSON_BODY_OVERHEAD_BYTES;
}

/** Refuses a body that is not JSON on a route that only takes JSON (the JSON parser lets other types pass). */
function requireJson(route: Route): RequestHandler {
  const message = `${route.method.toUpperCase()} ${route.path} takes a JSON body (Content-Type: application/json)`;
  return (req, _res, next) => next(req.is('application/json') ? undefined : new AppError('UNSUPPORTED_MEDIA_TYPE', message));
}

function bodyReaders(route: Route, body: RouteBody, deps: ExpressAdapterDeps): RequestHandler[] {
  const admit = route.admit ? [deps.admit] : [];
  switch (body.kind) {
    case 'none':
      return admit;
    case 'json':
      return [boundedBody(body.maxBytes), ...admit, reserveUploadBudget(deps.uploads, body.maxBytes), jsonBody(body.maxBytes), requireJson(route)];
    case 'images': {
      const multipartLimit = Math.min(multipartBodyLimit(body.maxFiles, body.maxFileBytes), deps.maxRequestBytes);
      const jsonLimit = body.json ? Math.min(jsonBodyLimit(body.maxFileBytes, body.maxFiles), deps.maxRequestBytes) : 0;
      const maxBodyBytes = Math.max(jsonLimit, multipartLimit);
      const multipart = uploadImages({
        fileFields: body.fileFields,
        maxFiles: body.maxFiles,
        maxFileBytes: body.maxFileBytes,
        maxTotalBytes: multipartLimit,
        tooManyFilesMessage: body.tooManyFilesMessage,
      });
      const parse = imageBody({ multipart, json: body.json ? jsonBody(jsonLimit) : undefined }, body.noImageMessage);
      return [boundedBody(maxBodyBytes), ...admit, reserveUploadBudget(deps.uploads, maxBodyBytes), parse];
    }
  }
}

function httpRequest(route: Route, req: Request, res: Response): HttpRequest {
  return {
    method: req.method,
    path: req.path,
    params: req.params as Record<string, string>,
    query: req.query,
    headers: req.headers,
    owner: route.access === 'apiKey' ? ownerOf(res) : null,
    bodyType: req.is('multipart/form-data') ? 'multipart' : req.is('application/json') ? 'json' : null,
    body: req.body,
    files: uploadedFiles(req, route.body.kind === 'images' ? route.body.fileFields : []),
  };
}

/** Writes SSE fields: every line of `data` its own `data:` line (the format has no escaping). */
function eventText(fields: Parameters<EventSink['event']>[0]): string {
  const lines = [...(fields.id === undefined ? [] : [`id: ${fields.id}`]), ...(fields.event === undefined ? [] : [`event: ${fields.event}`])];
  for (const line of fields.data.split(/\r\n|\r|\n/)) lines.push(`data: ${line}`);
  return `${lines.join('\n')}\n\n`;
}

/**
 * Serves an event stream: headers at once (no caching, no proxy buffering),
 * each event written as it comes, the answer ended when the stream ends. The
 * stream's signal aborts when the client goes away. A failure once the
 * stream began cannot become an error answer: it ends the stream (a client
 * resumes with Last-Event-ID) and is kept on the response for the request log.
 */
async function sendStream(res: Response, stream: EventStreamAnswer): Promise<void> {
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const sink: EventSink = {
    event: (fields) => void res.write(eventText(fields)),
    comment: (text) => void res.write(`: ${text}\n\n`),
  };
  try {
    await stream(sink, gone.signal);
  } catch (error) {
    res.err = error instanceof Error ? error : new Error(String(error));
  } finally {
    res.end();
  }
}

async function send(res: Response, answer: HttpResponse): Promise<void> {
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.status(answer.status);
  if (answer.stream) await sendStream(res, answer.stream);
  else if (answer.text) {
    res.setHeader('Content-Type', answer.text.contentType);
    res.send(answer.text.content);
  } else if (answer.file) {
    res.setHeader('Content-Type', answer.file.contentType);
    res.attachment(answer.file.filename);
    res.send(Buffer.from(answer.file.content.buffer, answer.file.content.byteOffset, answer.file.content.byteLength));
  } else res.json(answer.body);
}

/** A router serving `routes` (mount it at the root: the routes carry their full paths). */
export function expressRouter(routes: readonly Route[], deps: ExpressAdapterDeps): Router {
  const router = Router();
  for (const route of routes) {
    const guard = route.access === 'admin' ? [deps.adminGuard] : [];
    // Express 5 passes a rejected promise to the error handler.
    const handler: RequestHandler = async (req, res) => send(res, await route.handler(httpRequest(route, req, res)));
    router[route.method](route.path, ...guard, ...bodyReaders(route, route.body, deps), handler);
  }
  return router;
}
