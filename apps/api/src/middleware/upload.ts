/**
 * multipart/form-data uploads held in memory (images are small and go
 * straight to sharp), each file bounded by maxFileBytes and all of them
 * together by maxTotalBytes (so maxFiles x maxFileBytes never has to fit).
 * Multer's errors become AppErrors here, where the limits and the accepted
 * field names are known, so the messages can name them.
 */
import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import { AppError } from '@digitq/contracts';
import type { UploadedFile } from '../intake/requests.ts';

/** Text fields a form may carry besides its files (webhook, priority, ...). */
const MAX_FORM_FIELDS = 32;
/** Longest text field value: a webhook URL of 2048 characters fits. */
const MAX_FORM_FIELD_BYTES = 4096;
const MAX_FIELD_NAME_BYTES = 100;
/**
 * Bracketed field names (`a[b]`, `list[3]`) build nested objects and arrays in
 * req.body; no form here needs more than a list (`a[]`), and an index like
 * `a[99999999]` would make a sparse array that validation walks to its length.
 */
const MAX_FIELD_NESTING = 1;
const MAX_FIELD_ARRAY_INDEX = MAX_FORM_FIELDS;
/** A part's boundary line and headers (Content-Disposition with its names, Content-Type), generously. */
const PART_OVERHEAD_BYTES = 1024;

export interface UploadOptions {
  /** Names of the file fields accepted; a file in any other field is refused. */
  fileFields: readonly string[];
  maxFiles: number;
  maxFileBytes: number;
  /** Said when more than maxFiles files arrive, e.g. "at most 64 images per job". */
  tooManyFilesMessage: string;
  /** Bytes all files of one request may hold together; past it the upload is 413 PAYLOAD_TOO_LARGE. */
  maxTotalBytes: number;
}

/** Largest multipart body a form with `maxFiles` files of `maxFileBytes` and the text fields can be. */
export function multipartBodyLimit(maxFiles: number, maxFileBytes: number): number {
  return maxFiles * (maxFileBytes + PART_OVERHEAD_BYTES) + MAX_FORM_FIELDS * (MAX_FORM_FIELD_BYTES + PART_OVERHEAD_BYTES);
}

function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(' or ');
}

function toAppError(error: unknown, options: UploadOptions): AppError {
  if (error instanceof AppError) return error;
  if (!(error instanceof multer.MulterError)) {
    // busboy's parse errors (no boundary, truncated body, ...) and aborted requests.
    const message = error instanceof Error ? error.message : String(error);
    return new AppError('VALIDATION_FAILED', `malformed multipart/form-data body: ${message}`, {}, { cause: error });
  }
  const field = error.field === undefined ? '' : ` "${error.field}"`;
  // multer 2.5 sets `filename` on file errors; @types/multer does not declare it yet.
  const filename = (error as { filename?: string }).filename;
  const file = filename === undefined ? '' : ` (${filename})`;
  const cause = { cause: error };
  // `as string`: multer 2.5 has codes (LIMIT_FIELD_NESTING, ...) @types/multer does not declare yet.
  switch (error.code as string) {
    case 'LIMIT_FILE_SIZE':
      return new AppError('IMAGE_TOO_LARGE', `file${file} is larger than the limit of ${options.maxFileBytes} bytes`, {}, cause);
    case 'LIMIT_FILE_COUNT':
      return new AppError('TOO_MANY_IMAGES', options.tooManyFilesMessage, {}, cause);
    case 'LIMIT_UNEXPECTED_FILE':
      return new AppError('VALIDATION_FAILED', `unexpected file field${field}${file}: send images in the field ${quoteList(options.fileFields)}`, {}, cause);
    case 'LIMIT_FIELD_VALUE':
      return new AppError('VALIDATION_FAILED', `form field${field} is longer than ${MAX_FORM_FIELD_BYTES} bytes`, {}, cause);
    case 'LIMIT_FIELD_COUNT':
    case 'LIMIT_PART_COUNT':
      return new AppError('VALIDATION_FAILED', `too many form fields (at most ${MAX_FORM_FIELDS})`, {}, cause);
    case 'LIMIT_FIELD_KEY':
      return new AppError('VALIDATION_FAILED', `a form field name is longer than ${MAX_FIELD_NAME_BYTES} bytes`, {}, cause);
    case 'LIMIT_FIELD_NESTING':
    case 'LIMIT_FIELD_ARRAY_INDEX':
      return new AppError('VALIDATION_FAILED', `form field name${field} has more than ${MAX_FIELD_NESTING} [..] or an index above ${MAX_FIELD_ARRAY_INDEX}`, {}, cause);
    default:
      return new AppError('VALIDATION_FAILED', `invalid form field${field}: ${error.message}`, {}, cause);
  }
}

/**
 * multer's memory storage, with a running total of the file bytes of each
 * request: a file that takes it past `maxTotalBytes` fails the upload and the
 * rest of it is discarded as it arrives instead of kept.
 */
function boundedMemoryStorage(maxTotalBytes: number): multer.StorageEngine {
  const totals = new WeakMap<Request, number>();
  return {
    _handleFile(req, file, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      let refused = false;
      file.stream.on('data', (chunk: Buffer) => {
        if (refused) return;
        const total = (totals.get(req) ?? 0) + chunk.length;
        totals.set(req, total);
        if (total > maxTotalBytes) {
          refused = true;
          chunks.length = 0;
          callback(new AppError('PAYLOAD_TOO_LARGE', `the uploaded files are larger than the limit of ${maxTotalBytes} bytes together`));
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      file.stream.on('end', () => {
        if (!refused) callback(null, { buffer: Buffer.concat(chunks, size), size });
      });
    },
    _removeFile(_req, file, callback) {
      // As multer's memory storage does: the buffer goes, the file's description stays.
      delete (file as Partial<Express.Multer.File>).buffer;
      callback(null);
    },
  };
}

/** Parses a multipart body into `req.body` (text fields) and `req.files`; other content types pass through untouched. */
export function uploadImages(options: UploadOptions): RequestHandler {
  const parse = multer({
    storage: boundedMemoryStorage(options.maxTotalBytes),
    limits: {
      fileSize: options.maxFileBytes,
      files: options.maxFiles,
      fields: MAX_FORM_FIELDS,
      fieldSize: MAX_FORM_FIELD_BYTES,
      fieldNameSize: MAX_FIELD_NAME_BYTES,
      fieldNestingDepth: MAX_FIELD_NESTING,
      fieldArrayIndexLimit: MAX_FIELD_ARRAY_INDEX,
    },
  }).fields(options.fileFields.map((name) => ({ name })));
  return (req, res, next) => {
    parse(req, res, (error?: unknown) => next(error === undefined ? undefined : toAppError(error, options)));
  };
}

/** The uploaded files in the order of `fileFields`, then arrival, as the intake takes them. */
export function uploadedFiles(req: Request, fileFields: readonly string[]): UploadedFile[] {
  const files = req.files;
  if (files === undefined) return [];
  const inOrder = Array.isArray(files) ? files : fileFields.flatMap((name) => files[name] ?? []);
  return inOrder.map((file) => ({ field: file.fieldname, name: file.originalname, bytes: file.buffer }));
}
