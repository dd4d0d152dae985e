/**
 * Request bodies, bounded before they are buffered. `boundedBody` refuses,
 * from the headers alone, what no route here reads: a compressed body (415;
 * a few KB of gzip can inflate to gigabytes) and a declared Content-Length
 * above the route's largest body (413). `jsonBody` reads a JSON body up to
 * the route's limit, UTF-8 only, with a cap on nesting depth checked on the
 * raw bytes before JSON.parse, so that nothing downstream (validation, the
 * idempotency fingerprint) recurses through a hostile structure. `imageBody`
 * chooses the parser of a POST that takes images by Content-Type.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';

/** Deepest nesting of arrays and objects a JSON body may have; request bodies here nest 3 levels at most. */
export const MAX_JSON_DEPTH = 32;
const IDENTITY_ENCODING = 'identity';
const UTF8_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'utf8']);
const CHARSET_PARAMETER = /;\s*charset\s*=\s*"?([^";\s]*)/i;
/** Where a chunked body starts; it grows by doubling, up to the limit. */
const CHUNKED_BODY_INITIAL_BYTES = 64 * 1024;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const FIRST_NON_WHITESPACE = /^[\x20\x09\x0a\x0d]*(.|$)/;

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
          inputUnread: true,
        }),
      );
      return;
    }
    const declared = declaredBodyBytes(req);
    if (declared !== null && declared > maxBodyBytes) {
      next(
        new AppError('PAYLOAD_TOO_LARGE', `the request body (${declared} bytes) is larger than the limit of ${maxBodyBytes} bytes`, {
          inputUnread: true,
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

function tooLarge(limitBytes: number): AppError {
  // Closing the connection after the answer spares the client sending the rest, which nobody reads.
  return new AppError('PAYLOAD_TOO_LARGE', `the request body is larger than the limit of ${limitBytes} bytes`, { inputUnread: true });
}

/**
 * The whole body in one Buffer of at most `limitBytes`. A declared length is
 * allocated once and each chunk copied in as it arrives, so the chunks die
 * young (the next scavenge frees them) instead of being listed and then
 * concatenated (raw-body's way), which holds the body twice until a full GC.
 * Past the limit the body is no longer read.
 */
export function readBodyBytes(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = declaredBodyBytes(req);
    if (declared !== null && declared > limitBytes) {
      reject(tooLarge(limitBytes));
      return;
    }
    let body = Buffer.allocUnsafe(declared ?? Math.min(CHUNKED_BODY_INITIAL_BYTES, limitBytes));
    let length = 0;
    const settle = (error: AppError | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      if (error) {
        req.pause();
        reject(error);
      } else resolve(length === body.length ? body : body.subarray(0, length));
    };
    const onData = (chunk: Buffer) => {
      if (length + chunk.length > limitBytes) return settle(tooLarge(limitBytes));
      if (length + chunk.length > body.length) {
        const grown = Buffer.allocUnsafe(Math.min(limitBytes, Math.max(body.length * 2, length + chunk.length)));
        body.copy(grown, 0, 0, length);
        body = grown;
      }
      chunk.copy(body, length);
      length += chunk.length;
    };
    const onEnd = () => settle(null);
    // Closed (client gone, or cut by the body-read timeout) before the body ended: nobody is left to answer.
    const onClose = () => settle(new AppError('VALIDATION_FAILED', `the request body ended after ${length} bytes, before it was complete`));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onClose);
  });
}

/** The charset named in Content-Type, lower-cased, or null. */
function charsetOf(req: Request): string | null {
  const match = CHARSET_PARAMETER.exec(req.headers['content-type'] ?? '');
  return match ? match[1]!.toLowerCase() : null;
}

/** JSON text -> value, after the UTF-8 and depth checks on its bytes; like express.json (strict), an empty body is {}. */
function parseJsonBytes(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) throw new AppError('VALIDATION_FAILED', 'the request body is not valid UTF-8');
  if (jsonNestsDeeperThan(bytes, MAX_JSON_DEPTH)) {
    throw new AppError('VALIDATION_FAILED', `the JSON body nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const text = (bytes.subarray(0, UTF8_BOM.length).equals(UTF8_BOM) ? bytes.subarray(UTF8_BOM.length) : bytes).toString('utf8');
  const first = FIRST_NON_WHITESPACE.exec(text)?.[1] ?? '';
  if (first === '') return {};
  if (first !== '{' && first !== '[') throw new AppError('VALIDATION_FAILED', 'the request body is not valid JSON: it must be an object or an array');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `the request body is not valid JSON: ${(error as Error).message}`, {}, { cause: error });
  }
}

/**
 * Parses an application/json body of at most `limitBytes` into `req.body`
 * (400 malformed, not UTF-8 or too deep; 413 too large; 415 another charset);
 * other content types pass through untouched.
 */
export function jsonBody(limitBytes: number): RequestHandler {
  return (req, _res, next) => {
    if (!hasBody(req) || !req.is('application/json')) return next();
    const charset = charsetOf(req);
    if (charset !== null && !UTF8_CHARSETS.has(charset)) {
      next(new AppError('UNSUPPORTED_MEDIA_TYPE', `charset ${charset} is not accepted: send JSON as UTF-8`));
      return;
    }
    readBodyBytes(req, limitBytes)
      .then(parseJsonBytes)
      .then((body) => {
        req.body = body;
        next();
      }, next);
  };
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
