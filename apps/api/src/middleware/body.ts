/**
 * Chooses the body parser by Content-Type: a POST that accepts images takes
 * multipart/form-data (and, where given, JSON); a body of any other type is
 * 415, and no body at all is NO_IMAGE.
 */
import type { RequestHandler } from 'express';
import { AppError } from '@digitq/contracts';

export interface BodyParsers {
  multipart: RequestHandler;
  json?: RequestHandler;
}

function hasBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

export function imageBody(parsers: BodyParsers, noImageMessage: string): RequestHandler {
  const accepted = parsers.json ? 'multipart/form-data or application/json' : 'multipart/form-data';
  return (req, res, next) => {
    if (req.is('multipart/form-data')) return parsers.multipart(req, res, next);
    if (parsers.json && req.is('application/json')) return parsers.json(req, res, next);
    if (!hasBody(req.headers)) return next(new AppError('NO_IMAGE', noImageMessage));
    next(new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${req.headers['content-type'] ?? '(none)'} is not accepted here; send ${accepted}`));
  };
}
