/**
 * Untrusted bytes -> a small grey working copy, in one decode: sharp, or
 * for small plain PNGs the JS decoder in png.ts. Every failure becomes an
 * ImageError; nothing here decodes pixels before the byte and pixel limits
 * have been checked against the header.
 */
import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { ImageError } from './errors.ts';
import { DEFAULT_PREPROCESS_OPTIONS, type PreprocessOptions } from './options.ts';
import { decodePlainPng, type RawPixels } from './png.ts';

/** Formats accepted as input. BMP is absent because the prebuilt libvips in sharp cannot read it. */
export const IMAGE_FORMATS = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export const IMAGE_FORMAT_MEDIA_TYPES: Readonly<Record<ImageFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  avif: 'image/avif',
};

/** 8-bit grey pixels, row-major. */
export interface GreyImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export interface ImageHeader {
  format: ImageFormat;
  /** Size as displayed, i.e. after the EXIF orientation is applied. */
  width: number;
  height: number;
}

/**
 * Reject truncated data, accept recoverable warnings: phone JPEGs often carry
 * harmless ones (extraneous bytes, odd markers) that sharp's default
 * 'warning' level would refuse.
 */
const FAIL_ON = 'truncated' as const;
const OPAQUE = 255;
const WHITE = 255;
const MID_GREY = 128;
/** ITU-R BT.601 luma weights, as in JPEG. */
const LUMA_R = 0.299;
const LUMA_G = 0.587;
const LUMA_B = 0.114;
/**
 * The same weights in thousandths: (299 R + 587 G + 114 B + 500) / 1000,
 * truncated, equals Math.round(Math.fround(LUMA_R * R + LUMA_G * G + LUMA_B * B))
 * for every 8-bit R, G, B (checked for all 2^24), in integer arithmetic.
 */
const LUMA_R_THOUSANDTHS = 299;
const LUMA_G_THOUSANDTHS = 587;
const LUMA_B_THOUSANDTHS = 114;
const THOUSAND = 1000;
const HALF_THOUSAND = 500;
/** Whether a 32-bit word holds its lowest-addressed byte in its low bits (every platform Node runs on but s390x). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
const BYTE = 0xff;
const GREY_LEVELS = 256;
const GREY_ALPHA = 2;
const RGB = 3;
const RGBA = 4;

type SizeLimits = Pick<PreprocessOptions, 'maxBytes' | 'maxPixels'>;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkByteLength(bytes: Uint8Array, maxBytes: number): void {
  if (bytes.byteLength === 0) throw new ImageError('IMAGE_EMPTY_INPUT', 'the image is empty (0 bytes)');
  if (bytes.byteLength > maxBytes) {
    throw new ImageError('IMAGE_TOO_LARGE', `the image is ${bytes.byteLength} bytes; the limit is ${maxBytes} bytes`);
  }
}

function openImage(bytes: Uint8Array, maxPixels: number): Sharp {
  return sharp(toBuffer(bytes), { limitInputPixels: maxPixels, failOn: FAIL_ON });
}

/** A BMP starts with "BM"; sharp cannot read it, so say what it is instead of "not an image". */
function looksLikeBmp(bytes: Uint8Array): boolean {
  return bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** Maps an error thrown by sharp while reading untrusted input to an ImageError. */
export function imageErrorFromSharp(error: unknown, bytes: Uint8Array, limits: SizeLimits): ImageError {
  if (error instanceof ImageError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/unsupported image format/i.test(message)) {
    const what = looksLikeBmp(bytes) ? 'BMP images are not supported' : 'the data is not an image in a supported format';
    return new ImageError('IMAGE_UNSUPPORTED_FORMAT', `${what} (accepted: ${IMAGE_FORMATS.join(', ')})`, { cause: error });
  }
  if (/exceeds pixel limit/i.test(message)) {
    return new ImageError('IMAGE_TOO_MANY_PIXELS', `the image has more than ${limits.maxPixels} pixels`, { cause: error });
  }
  if (/^timeout/i.test(message)) return new ImageError('IMAGE_TIMEOUT', 'decoding the image took too long', { cause: error });
  if (/buffer is empty/i.test(message)) return new ImageError('IMAGE_EMPTY_INPUT', 'the image is empty (0 bytes)', { cause: error });
  return new ImageError('IMAGE_CORRUPT', 'the image data is corrupt or truncated', { cause: error });
}

function acceptedFormat(metadata: Metadata): ImageFormat | null {
  if (metadata.format === 'heif') return metadata.compression === 'av1' ? 'avif' : null;
  return (IMAGE_FORMATS as readonly string[]).includes(metadata.format) ? (metadata.format as ImageFormat) : null;
}

/** Reads and checks the header only: format, size and the pixel limit. */
export async function readImageHeader(bytes: Uint8Array, limits: SizeLimits): Promise<ImageHeader> {
  checkByteLength(bytes, limits.maxBytes);
  let metadata: Metadata;
  try {
    metadata = await openImage(bytes, limits.maxPixels).metadata();
  } catch (error) {
    throw imageErrorFromSharp(error, bytes, limits);
  }
  const format = acceptedFormat(metadata);
  if (!format) {
    const name = metadata.format === 'heif' ? `HEIF (${metadata.compression ?? 'unknown'} compression)` : metadata.format.toUpperCase();
    throw new ImageError('IMAGE_UNSUPPORTED_FORMAT', `${name} images are not supported (accepted: ${IMAGE_FORMATS.join(', ')})`);
  }
  const { width, height } = metadata.autoOrient;
  if (!(width > 0 && height > 0)) throw new ImageError('IMAGE_CORRUPT', `the image header states a size of ${width}x${height}`);
  if (width * height > limits.maxPixels) {
    throw new ImageError('IMAGE_TOO_MANY_PIXELS', `the image is ${width}x${height}, more than ${limits.maxPixels} pixels`);
  }
  return { format, width, height };
}

/**
 * The format of an image, judged by sharp from its content (file names and
 * declared media types are never trusted). Throws ImageError for anything
 * not in IMAGE_FORMATS, for empty or oversized input, and for headers sharp
 * cannot parse.
 */
export async function detectImageFormat(bytes: Uint8Array, limits?: Partial<SizeLimits>): Promise<ImageFormat> {
  const header = await readImageHeader(bytes, {
    maxBytes: limits?.maxBytes ?? DEFAULT_PREPROCESS_OPTIONS.maxBytes,
    maxPixels: limits?.maxPixels ?? DEFAULT_PREPROCESS_OPTIONS.maxPixels,
  });
  return header.format;
}

/** An upload decoded for locating the digit. */
export interface DecodedImage extends ImageHeader {
  /** Luminance, longer side at most `workingSize`; the original when it is that small already. */
  working: GreyImage;
}

/**
 * Checks and decodes an upload in one pass: the first frame/page, EXIF
 * orientation applied, shrunk so the longer side is at most `workingSize`,
 * as luminance with any transparency flattened onto the background that
 * contrasts with the visible content (dark strokes on a transparent canvas
 * land on white, light strokes on black, so the strokes never vanish).
 *
 * Plain PNGs that need no shrinking are decoded in JS (png.ts); everything
 * else takes a header read (format, size and pixel limit, refusing SVG, PDF,
 * HEIC... before their data is touched) and one sharp decode.
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: Pick<PreprocessOptions, 'maxBytes' | 'maxPixels' | 'timeoutSeconds' | 'workingSize'>,
): Promise<DecodedImage> {
  checkByteLength(bytes, options.maxBytes);
  const plain = decodePlainPng(bytes, options.workingSize, options.maxPixels);
  if (plain) {
    const { width, height } = plain;
    return { format: 'png', width, height, working: { data: flattenToLuma(plain), width, height } };
  }
  const header = await readImageHeader(bytes, options);
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await openImage(bytes, options.maxPixels)
      .autoOrient()
      .resize({ width: options.workingSize, height: options.workingSize, fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .timeout({ seconds: options.timeoutSeconds })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw imageErrorFromSharp(error, bytes, options);
  }
  const { width, height, channels } = raw.info;
  if (channels !== RGB && channels !== RGBA) throw new Error(`expected ${RGB} or ${RGBA} channels from sharp, got ${channels}`);
  return { ...header, working: { data: flattenToLuma({ data: raw.data, width, height, channels }), width, height } };
}

/** Rounded luma of each grey level, as an RGB pixel R = G = B would have it. */
const GREY_LUMA = Uint8Array.from({ length: GREY_LEVELS }, (_, g) => Math.round(Math.fround(LUMA_R * g + LUMA_G * g + LUMA_B * g)));

/** Luma of sample i (o its offset): BT.601 weights on R, G, B; grey counts as R = G = B, as sharp's sRGB conversion makes it. */
function lumaAt(data: Uint8Array, o: number, colour: boolean): number {
  const r = data[o]!;
  return colour ? LUMA_R * r + LUMA_G * data[o + 1]! + LUMA_B * data[o + 2]! : LUMA_R * r + LUMA_G * r + LUMA_B * r;
}

/**
 * Luminance of 8-bit grey, grey+alpha, RGB or RGBA samples, as 0-255
 * integers (rounded from single precision, as the decode always has).
 * Translucent pixels are blended onto white when the visible content is
 * dark, onto black when it is light.
 */
export function flattenToLuma({ data, width, height, channels }: RawPixels): Uint8Array {
  const pixels = width * height;
  const colour = channels >= RGB;
  const grey = new Uint8Array(pixels);
  // Opaque first, in a loop per layout; `alphas` ANDs every alpha: OPAQUE when all are.
  let alphas = OPAQUE;
  if (channels === RGBA && LITTLE_ENDIAN && data.byteOffset % RGBA === 0) {
    // A pixel per 32-bit load: R in the low byte, alpha in the high one.
    const words = new Int32Array(data.buffer, data.byteOffset, pixels);
    let high = -1;
    for (let i = 0; i < pixels; i++) {
      const v = words[i]!;
      grey[i] = ((LUMA_R_THOUSANDTHS * (v & BYTE) + LUMA_G_THOUSANDTHS * ((v >> 8) & BYTE) + LUMA_B_THOUSANDTHS * ((v >> 16) & BYTE) + HALF_THOUSAND) / THOUSAND) | 0;
      high &= v;
    }
    alphas = high >>> 24;
  } else if (colour) {
    for (let i = 0, o = 0; i < pixels; i++, o += channels) {
      grey[i] = ((LUMA_R_THOUSANDTHS * data[o]! + LUMA_G_THOUSANDTHS * data[o + 1]! + LUMA_B_THOUSANDTHS * data[o + 2]! + HALF_THOUSAND) / THOUSAND) | 0;
      if (channels === RGBA) alphas &= data[o + 3]!;
    }
  } else {
    for (let i = 0, o = 0; i < pixels; i++, o += channels) {
      grey[i] = GREY_LUMA[data[o]!]!;
      if (channels === GREY_ALPHA) alphas &= data[o + 1]!;
    }
  }
  if (alphas === OPAQUE) return grey;

  const alphaAt = channels - 1;
  let alphaSum = 0;
  let weightedLuma = 0;
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const a = data[o + alphaAt]!;
    alphaSum += a;
    weightedLuma += a * lumaAt(data, o, colour);
  }
  const contentLuma = alphaSum > 0 ? weightedLuma / alphaSum : 0;
  const background = contentLuma < MID_GREY ? WHITE : 0;
  for (let i = 0, o = 0; i < pixels; i++, o += channels) {
    const a = data[o + alphaAt]! / OPAQUE;
    grey[i] = Math.round(a * Math.fround(lumaAt(data, o, colour)) + (1 - a) * background);
  }
  return grey;
}
