/**
 * Test fixtures: digits drawn with sharp from SVG stroke paths (no fonts
 * needed), in any format, polarity, position, with transparency, EXIF
 * orientation or a photo-like paper background. Imported by tests only,
 * through `@digitq/imaging/test-images`; production code never loads it.
 */
import sharp, { type Sharp } from 'sharp';
import type { ImageFormat } from './decode.ts';
import { FRAME_SIDE, centreOfMass } from './frame.ts';
import type { Polarity } from './ink.ts';

/**
 * One path per digit, drawn with round pen strokes in a 60x100 box (x right,
 * y down), shaped like careful handwriting rather than a font.
 */
export const DIGIT_STROKES: readonly string[] = [
  'M30 3 C 10 3, 4 30, 4 50 C 4 74, 12 97, 30 97 C 48 97, 56 74, 56 50 C 56 26, 50 3, 30 3 Z',
  'M18 20 L36 3 L33 97',
  'M6 26 C 8 6, 52 -2, 54 24 C 56 46, 22 66, 5 96 L 58 95',
  'M6 14 C 20 -2, 54 2, 52 24 C 50 42, 32 46, 22 48 C 42 48, 58 60, 56 76 C 54 98, 16 100, 4 86',
  'M38 3 L5 66 L58 66 M44 32 L44 97',
  'M52 4 L15 4 L11 44 C 30 34, 56 42, 56 66 C 56 94, 20 102, 4 86',
  'M50 5 C 22 10, 5 40, 6 70 C 7 96, 50 100, 54 72 C 56 50, 26 44, 8 62',
  'M4 6 L56 6 L22 97',
  'M30 48 C 6 40, 8 4, 30 4 C 52 4, 54 40, 30 48 C 4 56, 4 96, 30 96 C 56 96, 56 56, 30 48 Z',
  'M53 30 C 53 4, 9 2, 8 26 C 7 50, 48 54, 53 30 L 50 97',
];
const GLYPH_WIDTH = 60;
const GLYPH_HEIGHT = 100;

export interface RenderDigitOptions {
  digit: number;
  /** Canvas size in pixels as displayed (before any EXIF rotation is undone). Default 280x280. */
  width?: number;
  height?: number;
  /** Default 'png'. */
  format?: ImageFormat;
  /** Default 'dark-on-light' (ink on paper). */
  polarity?: Polarity;
  /** Height of the drawn digit in pixels. Default 60% of the shorter canvas side. */
  digitHeight?: number;
  /** Pen width as a fraction of the digit height. Default 0.1. */
  strokeFraction?: number;
  /** Offset of the digit's centre from the canvas centre, in pixels. Default 0. */
  offsetX?: number;
  offsetY?: number;
  /** Transparent background, only the strokes opaque (PNG, WebP, GIF, TIFF, AVIF). Default false. */
  alpha?: boolean;
  /**
   * EXIF orientation 1-8 to store: the pixels are stored transformed so that
   * a viewer applying the tag shows the digit upright. Default none.
   */
  exifOrientation?: number;
  /** Uneven grey paper with seeded noise and blue-black ink, like a phone photo. Default false. */
  photo?: boolean;
  /**
   * A sheet of this size (photo-like paper with the digit centred on it),
   * tilted by `angle` degrees and lying in the middle of a dark desk that
   * fills the canvas. Implies `photo`. Default none.
   */
  sheet?: { width: number; height: number; angle?: number };
  /** Draw the background only (a blank page for IMAGE_BLANK tests). Default false. */
  blank?: boolean;
  /** Seed of the photo noise. Default 1. */
  seed?: number;
  /** JPEG/WebP/AVIF quality. Default 85. */
  quality?: number;
}

const INK_DARK = '#141414';
const INK_LIGHT = '#f0f0f0';
const PAPER = '#ffffff';
const BOARD = '#000000';
const PHOTO_INK = '#22233a';
const PHOTO_PAPER_BRIGHT = 228;
const PHOTO_PAPER_SHADOW = 110;
const PHOTO_NOISE_AMPLITUDE = 14;
const DESK = '#3b3129';
const RGB = 3;

type Geometry = Required<Pick<RenderDigitOptions, 'digit' | 'width' | 'height' | 'digitHeight' | 'strokeFraction' | 'offsetX' | 'offsetY' | 'blank'>>;

function digitSvg(options: Geometry, ink: string, background: string | null): Buffer {
  const path = options.blank ? '' : DIGIT_STROKES[options.digit];
  if (path === undefined) throw new RangeError(`digit must be 0-9, got ${options.digit}`);
  const scale = options.digitHeight / GLYPH_HEIGHT;
  const x = options.width / 2 + options.offsetX - (GLYPH_WIDTH * scale) / 2;
  const y = options.height / 2 + options.offsetY - options.digitHeight / 2;
  const fill = background ? `<rect width="100%" height="100%" fill="${background}"/>` : '';
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${options.width}" height="${options.height}">${fill}` +
      `<path d="${path}" transform="translate(${x} ${y}) scale(${scale})" fill="none" stroke="${ink}"` +
      ` stroke-width="${options.strokeFraction * GLYPH_HEIGHT}" stroke-linecap="round" stroke-linejoin="round"/></svg>`,
  );
}

/** Deterministic paper: a diagonal light-to-shadow gradient plus uniform noise (mulberry32). */
function photoPaper(width: number, height: number, seed: number): Buffer {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pixels = Buffer.alloc(width * height * RGB);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const shade = PHOTO_PAPER_BRIGHT - (PHOTO_PAPER_BRIGHT - PHOTO_PAPER_SHADOW) * ((x / width + y / height) / 2);
      const v = Math.max(0, Math.min(255, Math.round(shade + (random() - 0.5) * 2 * PHOTO_NOISE_AMPLITUDE)));
      const o = (y * width + x) * RGB;
      pixels[o] = v;
      pixels[o + 1] = v;
      pixels[o + 2] = Math.max(0, v - 8);
    }
  }
  return pixels;
}

/**
 * Stored pixels for an EXIF orientation: the inverse of what a viewer applies.
 * sharp flops before it rotates, whatever the call order.
 */
function undoOrientation(image: Sharp, orientation: number): Sharp {
  switch (orientation) {
    case 1:
      return image;
    case 2:
      return image.flop();
    case 3:
      return image.rotate(180);
    case 4:
      return image.flip();
    case 5:
      return image.rotate(270).flop();
    case 6:
      return image.rotate(270);
    case 7:
      return image.rotate(90).flop();
    case 8:
      return image.rotate(90);
    default:
      throw new RangeError(`EXIF orientation must be 1-8, got ${orientation}`);
  }
}

function encode(image: Sharp, format: ImageFormat, quality: number): Sharp {
  switch (format) {
    case 'png':
      return image.png();
    case 'jpeg':
      return image.jpeg({ quality });
    case 'webp':
      return image.webp({ quality });
    case 'gif':
      return image.gif();
    case 'tiff':
      return image.tiff();
    case 'avif':
      return image.avif({ quality });
  }
}

/** The whole canvas: a desk with a tilted sheet bearing the digit. */
async function sheetOnDesk(options: RenderDigitOptions & { sheet: NonNullable<RenderDigitOptions['sheet']> }): Promise<Sharp> {
  const { sheet, ...rest } = options;
  const paper = await renderDigitImage({ ...rest, width: sheet.width, height: sheet.height, format: 'png', photo: true, exifOrientation: undefined });
  const tilted = await sharp(paper)
    .rotate(sheet.angle ?? 0, { background: DESK })
    .toBuffer({ resolveWithObject: true });
  const width = options.width ?? 280;
  const height = options.height ?? 280;
  return sharp({ create: { width, height, channels: 3, background: DESK } }).composite([
    {
      input: tilted.data,
      left: Math.round((width - tilted.info.width) / 2),
      top: Math.round((height - tilted.info.height) / 2),
    },
  ]);
}

/** A digit drawn as an image file, for tests. */
export async function renderDigitImage(options: RenderDigitOptions): Promise<Buffer> {
  const width = options.width ?? 280;
  const height = options.height ?? 280;
  const format = options.format ?? 'png';
  const polarity = options.polarity ?? 'dark-on-light';
  if (options.alpha && format === 'jpeg') throw new RangeError('JPEG has no alpha channel');
  const geometry = {
    digit: options.digit,
    width,
    height,
    digitHeight: options.digitHeight ?? 0.6 * Math.min(width, height),
    strokeFraction: options.strokeFraction ?? 0.1,
    offsetX: options.offsetX ?? 0,
    offsetY: options.offsetY ?? 0,
    blank: options.blank ?? false,
  };
  let image: Sharp;
  if (options.sheet) {
    image = await sheetOnDesk({ ...options, sheet: options.sheet });
  } else if (options.photo) {
    const strokes = digitSvg(geometry, PHOTO_INK, null);
    image = sharp(photoPaper(width, height, options.seed ?? 1), { raw: { width, height, channels: RGB } }).composite([
      { input: strokes },
    ]);
  } else {
    const dark = polarity === 'dark-on-light';
    image = sharp(digitSvg(geometry, dark ? INK_DARK : INK_LIGHT, options.alpha ? null : dark ? PAPER : BOARD));
  }
  // Flatten the composite first so orientation and encoding see one image.
  let upright = sharp(await image.png().toBuffer());
  if (options.exifOrientation !== undefined) {
    upright = undoOrientation(upright, options.exifOrientation).withMetadata({ orientation: options.exifOrientation });
  }
  return encode(upright, format, options.quality ?? 85).toBuffer();
}

export interface DigitLayout {
  /** Centre of mass in 0-based pixel indices of the 28x28 frame. */
  centre: { x: number; y: number };
  /** Bounding box of the non-zero pixels. */
  box: { left: number; top: number; width: number; height: number };
  max: number;
  min: number;
}

/** Where the ink of a preprocessed 28x28 digit is, for assertions. */
export function measureDigit(pixels: Float32Array): DigitLayout {
  let left = FRAME_SIDE;
  let right = -1;
  let top = FRAME_SIDE;
  let bottom = -1;
  for (let y = 0; y < FRAME_SIDE; y++) {
    for (let x = 0; x < FRAME_SIDE; x++) {
      if (pixels[y * FRAME_SIDE + x]! <= 0) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return {
    centre: centreOfMass(pixels, FRAME_SIDE, FRAME_SIDE) ?? { x: NaN, y: NaN },
    box: { left, top, width: right - left + 1, height: bottom - top + 1 },
    max: pixels.reduce((a, b) => Math.max(a, b), -Infinity),
    min: pixels.reduce((a, b) => Math.min(a, b), Infinity),
  };
}
