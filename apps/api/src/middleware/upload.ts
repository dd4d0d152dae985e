/**
 * multipart/form-data uploads held in memory (images are small and go
 * straight to sharp). Multer's errors become AppErrors here, where the limits
 * and the accepted field names are known, so the messages can name them.
 */
import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import { AppError } from '@digitq/contracts';

/** Text fields a form may carry besides its files (webhook, priority, ...). */
const MAX_FORM_FIELDS = 32;
/** Longest text field value: a webhook URL of 2048 characters fits. */
const MAX_FORM_FIELD_BYTES = 4096;
const MAX_FIELD_NAME_BYTES = 100;

export interface UploadOptions {
  /** Names of the file fields accepted; a file in any other field is refused. */
  fileFields: readonly string[];
  maxFiles: number;
  maxFileBytes: number;
  /** Said when more than maxFiles files arrive, e.g. "at most 64 images per job". */
  tooManyFilesMessage: string;
}

function quoteList(names: readonly string[]): string {
  return names.map((name) => `"${name}"`).join(' or ');
}

function toAppError(error: unknown, options: UploadOptions): AppError {
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
  switch (error.code) {
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
    default:
      return new AppError('VALIDATION_FAILED', `invalid form field${field}: ${error.message}`, {}, cause);
  }
}

/** Parses a multipart body into `req.body` (text fields) and `req.files`; other content types pass through untouched. */
export function uploadImages(options: UploadOptions): RequestHandler {
  const parse = multer({
    storage: multer.memoryStorage(),
    limits: {
      fileSize: options.maxFileBytes,
      files: options.maxFiles,
      fields: MAX_FORM_FIELDS,
      fieldSize: MAX_FORM_FIELD_BYTES,
      fieldNameSize: MAX_FIELD_NAME_BYTES,
    },
  }).fields(options.fileFields.map((name) => ({ name })));
  return (req, res, next) => {
    parse(req, res, (error?: unknown) => next(error === undefined ? undefined : toAppError(error, options)));
  };
}

/** The uploaded files in the order of `fileFields`, then arrival. */
export function uploadedFiles(req: Request, fileFields: readonly string[]): Express.Multer.File[] {
  const files = req.files;
  if (files === undefined) return [];
  if (Array.isArray(files)) return files;
  return fileFields.flatMap((name) => files[name] ?? []);
}
