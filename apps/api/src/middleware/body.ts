/**
 * Request bodies, bounded before they are buffered. `boundedBody` refuses,
 * from the headers alone, what no route here reads: a compressed body (415;
 * a few KB of gzip can inflate to gigabytes) and a declared Content-Length
 * above the route's largest body (413). `jsonBody` is express.json with the
 * route's limit, no inflation, UTF-8 only and a cap on nesting depth, checked
 * on the raw bytes before JSON.parse so that nothing downstream (validation,
 * the idempotency fingerprint) recurses through a hostile structure.
 * `imageBody` chooses the parser of a POST that takes images by Content-Type.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';

/** Deepest nesting of arrays and objects a JSON body may have; request bodies here nest 3 levels at most. */
export const MAX_JSON_DEPTH = 32;
const IDENTITY_ENCODING = 'identity';
const JSON_CHARSET = 'utf-8';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;

/** Whether the request carries a body at all (chunked, or a Content-Length above 0). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The body's declared Content-Length (Node's parser has checked it is a number), or null when chunked or absent. */
export function declaredBodyBytes(req: IncomingMessage): number | null {
  const length = req.headers['content-length'];
  return length === undefined ? null : Number(length);
}

/**
 * Refuses, before a byte of the body is read: any Content-Encoding (415
 * UNSUPPORTED_MEDIA_TYPE) and a declared Content-Length above `maxBodyBytes`
 * (413 PAYLOAD_TOO_LARGE). Either answer closes the connection, so the
 * client is not left sending a body nobody reads.
 */
export function boundedBody(maxBodyBytes: number): RequestHandler {
  return (req, _res, next) => {
    const encoding = req.headers['content-encoding']?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== IDENTITY_ENCODING) {
      next(
        new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding ${encoding} is not accepted: send the request body uncompressed`, {
          headers: { Connection: 'close' },
        }),
      );
      return;
    }
    const declared = declaredBodyBytes(req);
    if (declared !== null && declared > maxBodyBytes) {
      next(
        new AppError('PAYLOAD_TOO_LARGE', `the request body (${declared} bytes) is larger than the limit of ${maxBodyBytes} bytes`, {
          headers: { Connection: 'close' },
        }),
      );
      return;
    }
    next();
  };
}

/** Index of the quote that closes the string opened at `open`, or the text's length when it is never closed. */
function endOfString(text: Buffer, open: number): number {
  let from = open + 1;
  for (;;) {
    const quote = text.indexOf(QUOTE, from);
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth`, by a
 * single pass over the bytes (strings skipped with indexOf, so a body of
 * base64 images costs little). Malformed text is left to JSON.parse.
 */
export function jsonNestsDeeperThan(text: Buffer, maxDepth: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    if (byte === QUOTE) i = endOfString(text, i);
    else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      depth++;
      if (depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) depth--;
  }
  return false;
}

/**
 * An error body-parser passes on as it is (it keeps `status`), which the
 * error handler answers like its own errors: by status, with this message.
 */
function bodyRejection(status: number, type: string, message: string): Error {
  return Object.assign(new Error(message), { status, type });
}

/** express.json's `verify`: runs on the raw bytes after the size limit and before decoding and JSON.parse. */
function verifyJsonText(_req: IncomingMessage, _res: unknown, body: Buffer, encoding: string): void {
  if (encoding !== JSON_CHARSET) throw bodyRejection(415, 'charset.unsupported', `charset ${encoding} is not accepted: send JSON as UTF-8`);
  if (!isUtf8(body)) throw bodyRejection(400, 'entity.verify.failed', 'the request body is not valid UTF-8');
  if (jsonNestsDeeperThan(body, MAX_JSON_DEPTH)) {
    throw bodyRejection(400, 'entity.verify.failed', `the JSON body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/** Parses a JSON body of at most `limitBytes` into `req.body`; other content types pass through untouched. */
export function jsonBody(limitBytes: number): RequestHandler {
  return express.json({ limit: limitBytes, inflate: false, verify: verifyJsonText });
}

export interface BodyParsers {
  multipart: RequestHandler;
  json?: RequestHandler;
}

/**
 * Chooses the body parser by Content-Type: a POST that accepts images takes
 * multipart/form-data (and, where given, JSON); a body of any other type is
 * 415, and no body at all is NO_IMAGE.
 */
export function imageBody(parsers: BodyParsers, noImageMessage: string): RequestHandler {
  const accepted = parsers.json ? 'multipart/form-data or application/json' : 'multipart/form-data';
  return (req, res, next) => {
    if (req.is('multipart/form-data')) return parsers.multipart(req, res, next);
    if (parsers.json && req.is('application/json')) return parsers.json(req, res, next);
    if (!hasBody(req)) return next(new AppError('NO_IMAGE', noImageMessage));
    next(new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${req.headers['content-type'] ?? '(none)'} is not accepted here; send ${accepted}`));
  };
}
