import { ImageError } from './errors.ts';
import { decodeImage, type GreyImage, type ImageFormat } from './decode.ts';
import { centreInFrame, digitBoxSize, frameBytes } from './frame.ts';
import { locateDigit, type Box, type LocatedInk, type Polarity } from './ink.ts';
import { resolvePreprocessOptions, type PreprocessOptions } from './options.ts';
import { resizeGrey } from './resize.ts';
import { normaliseStrokeWidth } from './stroke.ts';

export interface PreprocessedDigit {
  /** 784 values in [0, 1], row-major 28x28, white ink (1) on black (0), MNIST layout. */
  pixels: Float32Array;
  /** The same 784 values as bytes, round(255 * v): what @digitq/contracts' quantizePixels gives, without its per-value callback. */
  pixelBytes: Uint8Array;
  format: ImageFormat;
  /** Size of the original image as displayed (after EXIF orientation). */
  width: number;
  height: number;
  /** What the upload looked like; the output is always white on black. */
  polarity: Polarity;
  /** Where the digit was found, in pixels of the original image (after EXIF orientation). */
  inkBox: Box;
}

export type PreprocessResult = { ok: true; digit: PreprocessedDigit } | { ok: false; error: ImageError };

function toOriginalBox(box: Box, working: GreyImage, width: number, height: number): Box {
  const sx = width / working.width;
  const sy = height / working.height;
  const left = Math.floor(box.left * sx);
  const top = Math.floor(box.top * sy);
  const right = Math.min(width, Math.ceil((box.left + box.width) * sx));
  const bottom = Math.min(height, Math.ceil((box.top + box.height) * sy));
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * Turns an uploaded photo, scan or drawing of one digit into the model's
 * input: decode (first frame, EXIF orientation, alpha flattened), grey,
 * polarity normalised to white ink on black, cropped to the ink, thin pen
 * strokes thickened to MNIST's width, scaled to a 20-px box, centred by mass
 * in 28x28, scaled to [0, 1].
 *
 * Deterministic: the same bytes and options give the same pixels.
 * Throws ImageError (see IMAGE_ERROR_HTTP_STATUS) for anything that is not a
 * usable digit image; other errors are bugs.
 */
export async function preprocessDigitImage(bytes: Uint8Array, options?: Partial<PreprocessOptions>): Promise<PreprocessedDigit> {
  const resolved = resolvePreprocessOptions(options);
  const { working, ...header } = await decodeImage(bytes, resolved);
  const { located, pixels } = frameDigit(working, resolved.minInkContrast);
  return {
    pixels,
    pixelBytes: frameBytes(pixels),
    format: header.format,
    width: header.width,
    height: header.height,
    polarity: located.polarity,
    inkBox: toOriginalBox(located.box, working, header.width, header.height),
  };
}

/** Margin added around an image whose digit fills it edge to edge, as a fraction of its longer side. */
const FILL_MARGIN_FRACTION = 0.25;

/** The image inside a frame of `margin` pixels of the given grey. */
function withMargin(image: GreyImage, margin: number, grey: number): GreyImage {
  const width = image.width + 2 * margin;
  const height = image.height + 2 * margin;
  const data = new Uint8Array(width * height).fill(grey);
  for (let y = 0; y < image.height; y++) data.set(image.data.subarray(y * image.width, (y + 1) * image.width), (y + margin) * width + margin);
  return { data, width, height };
}

/** The image's border pixels. */
function borderPixels({ data, width, height }: GreyImage): Uint8Array {
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(data[x]!, data[(height - 1) * width + x]!);
  for (let y = 1; y < height - 1; y++) border.push(data[y * width]!, data[y * width + width - 1]!);
  return Uint8Array.from(border);
}

/** Ink counts as touching the border when this fraction of it is far from the border's median grey. */
const TOUCHING_FRACTION = 0.05;
/** Far from the median: more than this on the 0-255 scale (well above paper noise, as ink is). */
const TOUCHING_CONTRAST = 96;

/** The border's median grey (the paper, while ink covers less than half of it), or null when no ink reaches the border. */
function paperGreyWhereInkTouchesBorder(image: GreyImage): number | null {
  const border = borderPixels(image).sort();
  const median = border[border.length >> 1]!;
  let far = 0;
  for (const grey of border) if (Math.abs(grey - median) > TOUCHING_CONTRAST) far++;
  return far >= TOUCHING_FRACTION * border.length ? median : null;
}

/**
 * locateDigit, and when it finds nothing because the digit fills the image
 * edge to edge (a form box written full, a tight crop), so little paper is
 * left at the border that the background and polarity come out wrong: again
 * with a margin of the border's median grey (the paper, as long as ink
 * covers less than half the border). Only when ink reaches the border: a
 * blank page stays blank. Boxes stay in the image's own pixels.
 */
function locateDigitFillingImage(image: GreyImage, minInkContrast: number): LocatedInk {
  try {
    return locateDigit(image, minInkContrast);
  } catch (error) {
    if (!(error instanceof ImageError) || error.code !== 'IMAGE_BLANK') throw error;
    const paper = paperGreyWhereInkTouchesBorder(image);
    if (paper === null) throw error;
    const margin = Math.max(2, Math.round(FILL_MARGIN_FRACTION * Math.max(image.width, image.height)));
    let located: LocatedInk;
    try {
      located = locateDigit(withMargin(image, margin, paper), minInkContrast);
    } catch {
      throw error;
    }
    return { ...located, box: { ...located.box, left: Math.max(0, located.box.left - margin), top: Math.max(0, located.box.top - margin) } };
  }
}

/** Everything after decoding: locate the ink, normalise the pen, scale to the 20-px box, centre by mass. */
function frameDigit(working: GreyImage, minInkContrast: number): { located: LocatedInk; pixels: Float32Array } {
  const located = locateDigitFillingImage(working, minInkContrast);
  const crop = normaliseStrokeWidth({ ink: located.ink, width: located.box.width, height: located.box.height });
  const box = digitBoxSize(crop.width, crop.height);
  // The pixels sharp's Lanczos-3 resize gives (anti-aliased when shrinking), without a sharp round trip.
  const digit = resizeGrey({ data: crop.ink, width: crop.width, height: crop.height }, box.width, box.height);
  return { located, pixels: centreInFrame(digit.data, digit.width, digit.height) };
}

/**
 * preprocessDigitImage for pixels already decoded to grey (no file format,
 * no size limits): what training augmentation uses so that a degraded
 * digit looks exactly as it would had it been uploaded as a PNG.
 * Throws ImageError (e.g. IMAGE_BLANK) as preprocessDigitImage does.
 */
export function preprocessGreyImage(image: GreyImage, options?: Partial<Pick<PreprocessOptions, 'minInkContrast'>>): { pixels: Float32Array; pixelBytes: Uint8Array } {
  const { pixels } = frameDigit(image, resolvePreprocessOptions(options).minInkContrast);
  return { pixels, pixelBytes: frameBytes(pixels) };
}

/**
 * preprocessDigitImage for many images, at most `options.concurrency` at a
 * time. Results keep the input order; an ImageError fails only its own item.
 */
export async function preprocessDigitImages(
  inputs: readonly Uint8Array[],
  options?: Partial<PreprocessOptions>,
): Promise<PreprocessResult[]> {
  const resolved = resolvePreprocessOptions(options);
  const results = new Array<PreprocessResult>(inputs.length);
  let next = 0;
  async function drain(): Promise<void> {
    while (next < inputs.length) {
      const i = next++;
      try {
        results[i] = { ok: true, digit: await preprocessDigitImage(inputs[i]!, resolved) };
      } catch (error) {
        if (!(error instanceof ImageError)) throw error;
        results[i] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(resolved.concurrency, inputs.length) }, drain));
  return results;
}
