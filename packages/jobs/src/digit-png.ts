/**
 * A 28x28 digit (784 bytes, MNIST convention: white ink on black) as an
 * 8-bit greyscale PNG, and back. The feedback store keeps one such file per
 * correction on disk and exports them; node:zlib does the compression, so
 * this package needs no image library.
 *
 * Decoding takes any 8-bit greyscale, non-interlaced PNG of the digit's size
 * (what this encoder writes, or the same file re-saved by an image tool) and
 * returns null for anything else.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { DIGIT_SIDE, PIXELS_PER_IMAGE } from '@digitq/contracts';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const IHDR_LENGTH = 13;
const BIT_DEPTH_8 = 8;
const COLOUR_GREY = 0;
const FILTER_NONE = 0;
const FILTER_SUB = 1;
const FILTER_UP = 2;
const FILTER_AVERAGE = 3;
const FILTER_PAETH = 4;
/** Length, type and CRC around each chunk's data. */
const CHUNK_OVERHEAD = 12;

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(CHUNK_OVERHEAD + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** The digit's 784 bytes as a PNG file. */
export function encodeDigitPng(pixels: Uint8Array): Buffer {
  if (pixels.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${pixels.length}`);
  const header = Buffer.alloc(IHDR_LENGTH);
  header.writeUInt32BE(DIGIT_SIDE, 0);
  header.writeUInt32BE(DIGIT_SIDE, 4);
  header[8] = BIT_DEPTH_8;
  header[9] = COLOUR_GREY;
  // Each row: its filter byte, then its pixels.
  const raw = Buffer.alloc(DIGIT_SIDE * (DIGIT_SIDE + 1));
  for (let row = 0; row < DIGIT_SIDE; row++) {
    raw[row * (DIGIT_SIDE + 1)] = FILTER_NONE;
    raw.set(pixels.subarray(row * DIGIT_SIDE, (row + 1) * DIGIT_SIDE), row * (DIGIT_SIDE + 1) + 1);
  }
  return Buffer.concat([SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undoes the PNG row filters of 1-byte-per-pixel rows. Null on an unknown filter. */
function unfilter(raw: Uint8Array, side: number): Uint8Array | null {
  const out = new Uint8Array(side * side);
  for (let row = 0; row < side; row++) {
    const filter = raw[row * (side + 1)]!;
    const line = raw.subarray(row * (side + 1) + 1, (row + 1) * (side + 1));
    for (let x = 0; x < side; x++) {
      const left = x > 0 ? out[row * side + x - 1]! : 0;
      const up = row > 0 ? out[(row - 1) * side + x]! : 0;
      const upLeft = x > 0 && row > 0 ? out[(row - 1) * side + x - 1]! : 0;
      let predictor: number;
      switch (filter) {
        case FILTER_NONE:
          predictor = 0;
          break;
        case FILTER_SUB:
          predictor = left;
          break;
        case FILTER_UP:
          predictor = up;
          break;
        case FILTER_AVERAGE:
          predictor = (left + up) >> 1;
          break;
        case FILTER_PAETH:
          predictor = paeth(left, up, upLeft);
          break;
        default:
          return null;
      }
      out[row * side + x] = (line[x]! + predictor) & 0xff;
    }
  }
  return out;
}

/** The digit's 784 bytes from a PNG, or null when it is not an intact 28x28 8-bit greyscale PNG. */
export function decodeDigitPng(bytes: Uint8Array): Uint8Array | null {
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (file.length < SIGNATURE.length || !file.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return null;
  const data: Buffer[] = [];
  let sawHeader = false;
  for (let at = SIGNATURE.length; at + CHUNK_OVERHEAD <= file.length; ) {
    const length = file.readUInt32BE(at);
    const type = file.toString('latin1', at + 4, at + 8);
    if (at + CHUNK_OVERHEAD + length > file.length) return null;
    const body = file.subarray(at + 8, at + 8 + length);
    if (crc32(file.subarray(at + 4, at + 8 + length)) >>> 0 !== file.readUInt32BE(at + 8 + length)) return null;
    if (type === 'IHDR') {
      if (length !== IHDR_LENGTH) return null;
      const [width, height, depth, colour, interlace] = [body.readUInt32BE(0), body.readUInt32BE(4), body[8], body[9], body[12]];
      if (width !== DIGIT_SIDE || height !== DIGIT_SIDE || depth !== BIT_DEPTH_8 || colour !== COLOUR_GREY || interlace !== 0) return null;
      sawHeader = true;
    } else if (type === 'IDAT') data.push(body);
    else if (type === 'IEND') break;
    at += CHUNK_OVERHEAD + length;
  }
  if (!sawHeader || data.length === 0) return null;
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(data));
  } catch {
    return null;
  }
  if (raw.length !== DIGIT_SIDE * (DIGIT_SIDE + 1)) return null;
  return unfilter(raw, DIGIT_SIDE);
}
