/**
 * IDX file format (LeCun et al.): a big-endian header `0x00 0x00 <type> <rank>`,
 * then `rank` uint32 dimensions, then the data. MNIST and EMNIST ship in it.
 * https://yann.lecun.com/exdb/mnist/ describes the format.
 */
import { gunzipSync } from 'node:zlib';
import { DatasetError, type DatasetErrorCode } from './errors.ts';

export const IDX_TYPE_UBYTE = 0x08;

export interface IdxArray {
  /** Dimension sizes, outermost first: [count] for labels, [count, rows, cols] for images. */
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export type IdxErrorCode = Extract<DatasetErrorCode, `IDX_${string}`>;

export class IdxFormatError extends DatasetError {
  declare readonly code: IdxErrorCode;

  constructor(code: IdxErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'IdxFormatError';
  }
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Parses IDX bytes, gzip-compressed or raw. Only unsigned-byte data (type 0x08) is supported. */
export function parseIdx(input: Uint8Array, source = 'IDX data'): IdxArray {
  let bytes = input;
  if (isGzip(input)) {
    try {
      bytes = gunzipSync(input);
    } catch (cause) {
      throw new IdxFormatError('IDX_BAD_GZIP', `${source}: gzip stream is corrupt or truncated`, { cause });
    }
  }
  if (bytes.length < 4) {
    throw new IdxFormatError('IDX_TRUNCATED', `${source}: ${bytes.length} bytes is shorter than the 4-byte IDX magic`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError('IDX_BAD_MAGIC', `${source}: not an IDX file (magic must start with two zero bytes)`);
  }
  const type = bytes[2]!;
  const rank = bytes[3]!;
  if (type !== IDX_TYPE_UBYTE) {
    throw new IdxFormatError('IDX_UNSUPPORTED_TYPE', `${source}: IDX data type 0x${type.toString(16)} is not supported (only unsigned byte, 0x08)`);
  }
  if (rank === 0) throw new IdxFormatError('IDX_BAD_MAGIC', `${source}: IDX rank 0 is not valid`);
  const headerLength = 4 + 4 * rank;
  if (bytes.length < headerLength) {
    throw new IdxFormatError('IDX_TRUNCATED', `${source}: header needs ${headerLength} bytes, file has ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const expected = shape.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerLength;
  if (actual < expected) {
    throw new IdxFormatError('IDX_TRUNCATED', `${source}: shape [${shape.join(', ')}] needs ${expected} data bytes, file has ${actual}`);
  }
  if (actual > expected) {
    throw new IdxFormatError('IDX_LENGTH_MISMATCH', `${source}: shape [${shape.join(', ')}] needs ${expected} data bytes, file has ${actual} (trailing data)`);
  }
  return { shape, data: bytes.subarray(headerLength) };
}

/** Serialises unsigned-byte data as raw IDX; used to write fixtures and exports. */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * shape.length);
  const view = new DataView(header.buffer);
  header[2] = IDX_TYPE_UBYTE;
  header[3] = shape.length;
  shape.forEach((size, i) => view.setUint32(4 + 4 * i, size, false));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}
