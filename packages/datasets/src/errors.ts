/**
 * Every failure this package reports is a DatasetError with a string `code`, so
 * a caller (CLI, training-job API) can map codes to exit codes or HTTP statuses
 * with one table instead of a chain of instanceof checks.
 */

export type DatasetErrorCode =
  | 'IDX_TRUNCATED'
  | 'IDX_BAD_MAGIC'
  | 'IDX_UNSUPPORTED_TYPE'
  | 'IDX_LENGTH_MISMATCH'
  | 'IDX_BAD_GZIP'
  | 'IDX_BAD_SHAPE'
  | 'IDX_BAD_LABEL'
  | 'DATASET_NOT_FOUND'
  | 'DATASET_AMBIGUOUS'
  | 'DATASET_EMPTY'
  | 'DATASET_BAD_SPEC'
  | 'DECODER_REQUIRED'
  | 'FEEDBACK_REQUIRED'
  | 'IMAGE_DECODE_FAILED'
  | 'DOWNLOAD_HTTP'
  | 'DOWNLOAD_NETWORK'
  | 'CHECKSUM_MISMATCH';

export class DatasetError extends Error {
  constructor(
    readonly code: DatasetErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DatasetError';
  }
}

/** A directory or file the loader needs is missing; the message lists every name it tried. */
export class DatasetNotFoundError extends DatasetError {
  constructor(
    message: string,
    /** Paths or glob-like patterns that were tried, in the order they were tried. */
    readonly tried: readonly string[] = [],
  ) {
    super('DATASET_NOT_FOUND', message);
    this.name = 'DatasetNotFoundError';
  }
}

/** One image of a folder dataset could not be decoded into 28x28 pixels. */
export class ImageDecodeError extends DatasetError {
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('IMAGE_DECODE_FAILED', message, options);
    this.name = 'ImageDecodeError';
  }
}

/** The server answered with a non-2xx status, or the connection failed. */
export class DownloadError extends DatasetError {
  constructor(
    code: 'DOWNLOAD_HTTP' | 'DOWNLOAD_NETWORK',
    readonly url: string,
    /** HTTP status for DOWNLOAD_HTTP; null when no response arrived. */
    readonly status: number | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'DownloadError';
  }
}

export interface FileDigests {
  readonly md5: string;
  readonly sha256: string;
}

/** A downloaded file's digests differ from the table; the file was not kept. */
export class ChecksumMismatchError extends DatasetError {
  constructor(
    readonly file: string,
    readonly expected: FileDigests,
    readonly actual: FileDigests & { bytes: number },
  ) {
    super(
      'CHECKSUM_MISMATCH',
      `${file}: checksum mismatch (expected md5 ${expected.md5} sha256 ${expected.sha256}; ` +
        `got md5 ${actual.md5} sha256 ${actual.sha256}, ${actual.bytes} bytes); the file was discarded`,
    );
    this.name = 'ChecksumMismatchError';
  }
}
