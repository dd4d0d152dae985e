/**
 * Small, plain PNGs decoded in JS: a drawing canvas's or an MNIST crop's
 * upload is a few KB, and one sharp call costs more CPU (thread hand-off,
 * libvips pipeline set-up) than inflating and unfiltering it here.
 *
 * Only what decodes to exactly the pixels sharp would give is taken: 8-bit
 * grey, grey+alpha, RGB or RGBA, not interlaced, no palette, no colour
 * profile, gamma or EXIF chunk, every chunk's CRC and the zlib stream
 * intact, no larger than the working size (so nothing needs resampling).
 * Anything else, including anything malformed, returns null and goes to
 * sharp, which then decodes it or says what is wrong with it: this path never
 * decides an error.
 *
 * And the one PNG writer: grey pixels to a plain 8-bit greyscale file (the
 * robustness suite's uploads, the feedback store's disk copy and exports).
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import type { GreyImage } from './decode.ts';

/** Decoded 8-bit samples, row-major, `channels` per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const IHDR_LENGTH = 13;
/** Chunk length, type, CRC. */
const CHUNK_OVERHEAD = 12;
const BIT_DEPTH_8 = 8;
/** PNG colour type -> channels; palette (3) is left to sharp. */
const CHANNELS_OF_COLOUR_TYPE: Readonly<Record<number, number>> = { 0: 1, 2: 3, 4: 2, 6: 4 };
/** Chunks that do not change the pixels libvips decodes. Any other chunk sends the file to sharp. */
const NEUTRAL_CHUNKS = new Set(['IHDR', 'IDAT', 'IEND', 'pHYs', 'tEXt', 'zTXt', 'iTXt', 'tIME']);
const FILTER_NONE = 0;
const FILTER_SUB = 1;
const FILTER_UP = 2;
const FILTER_AVERAGE = 3;
const FILTER_PAETH = 4;

function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function chunkType(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(bytes[offset]!, bytes[offset + 1]!, bytes[offset + 2]!, bytes[offset + 3]!);
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= SIGNATURE.length && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Reverses the per-row filters of 8-bit samples into `out`; false for an unknown filter type. */
function unfilter(filtered: Uint8Array, out: Uint8Array, height: number, rowBytes: number, bpp: number): boolean {
  for (let y = 0; y < height; y++) {
    const from = y * (rowBytes + 1);
    const type = filtered[from]!;
    const src = from + 1;
    const row = y * rowBytes;
    const up = row - rowBytes;
    switch (type) {
      case FILTER_NONE:
        out.set(filtered.subarray(src, src + rowBytes), row);
        break;
      case FILTER_SUB:
        for (let i = 0; i < rowBytes; i++) out[row + i] = filtered[src + i]! + (i >= bpp ? out[row + i - bpp]! : 0);
        break;
      case FILTER_UP:
        for (let i = 0; i < rowBytes; i++) out[row + i] = filtered[src + i]! + (y > 0 ? out[up + i]! : 0);
        break;
      case FILTER_AVERAGE:
        for (let i = 0; i < rowBytes; i++) {
          const left = i >= bpp ? out[row + i - bpp]! : 0;
          const above = y > 0 ? out[up + i]! : 0;
          out[row + i] = filtered[src + i]! + ((left + above) >> 1);
        }
        break;
      case FILTER_PAETH:
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? out[row + i - bpp]! : 0;
          const b = y > 0 ? out[up + i]! : 0;
          const c = i >= bpp && y > 0 ? out[up + i - bpp]! : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[row + i] = filtered[src + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return false;
    }
  }
  return true;
}

/**
 * The pixels of a plain PNG whose sides are at most `maxSide` and whose
 * area is at most `maxPixels`, or null for anything else (see above).
 */
export function decodePlainPng(bytes: Uint8Array, maxSide: number, maxPixels: number): RawPixels | null {
  if (!isPng(bytes)) return null;
  let offset = SIGNATURE.length;
  if (bytes.length < offset + CHUNK_OVERHEAD + IHDR_LENGTH) return null;
  if (readUint32(bytes, offset) !== IHDR_LENGTH || chunkType(bytes, offset + 4) !== 'IHDR') return null;
  const header = offset + 8;
  const width = readUint32(bytes, header);
  const height = readUint32(bytes, header + 4);
  const channels = CHANNELS_OF_COLOUR_TYPE[bytes[header + 9]!];
  const [bitDepth, compression, filterMethod, interlace] = [bytes[header + 8], bytes[header + 10], bytes[header + 11], bytes[header + 12]];
  if (channels === undefined || bitDepth !== BIT_DEPTH_8 || compression !== 0 || filterMethod !== 0 || interlace !== 0) return null;
  if (width < 1 || height < 1 || width > maxSide || height > maxSide || width * height > maxPixels) return null;

  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    if (offset + CHUNK_OVERHEAD > bytes.length) return null;
    const length = readUint32(bytes, offset);
    const end = offset + CHUNK_OVERHEAD + length;
    if (end > bytes.length) return null;
    const type = chunkType(bytes, offset + 4);
    if (!NEUTRAL_CHUNKS.has(type)) return null;
    if (crc32(bytes.subarray(offset + 4, end - 4)) !== readUint32(bytes, end - 4)) return null;
    if (type === 'IDAT') idat.push(bytes.subarray(offset + 8, end - 4));
    ended = type === 'IEND';
    offset = end;
  }
  if (idat.length === 0) return null;

  const rowBytes = width * channels;
  const expected = height * (rowBytes + 1);
  let filtered: Uint8Array;
  try {
    filtered = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), { maxOutputLength: expected });
  } catch {
    return null; // damaged stream, or more data than the header allows
  }
  if (filtered.length !== expected) return null;
  const data = new Uint8Array(rowBytes * height);
  return unfilter(filtered, data, height, rowBytes, channels) ? { data, width, height, channels } : null;
}

const COLOUR_GREY = 0;

function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(CHUNK_OVERHEAD + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** Grey pixels as a plain PNG file (8-bit greyscale, unfiltered rows, zlib-compressed): what decodePlainPng reads back exactly. */
export function encodeGreyPng({ data, width, height }: GreyImage): Uint8Array {
  if (data.length !== width * height) throw new RangeError(`expected ${width * height} pixels for ${width}x${height}, got ${data.length}`);
  const header = Buffer.alloc(IHDR_LENGTH);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = BIT_DEPTH_8;
  header[9] = COLOUR_GREY;
  // Each row: its filter byte (none), then its pixels.
  const raw = Buffer.alloc(height * (width + 1));
  for (let row = 0; row < height; row++) raw.set(data.subarray(row * width, (row + 1) * width), row * (width + 1) + 1);
  const file = Buffer.concat([Buffer.from(SIGNATURE), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))]);
  return new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
}
