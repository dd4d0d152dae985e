import { ImageError } from './errors.ts';
import { decodeImage, type GreyImage, type ImageFormat } from './decode.ts';
import { centreInFrame, digitBoxSize, frameBytes } from './frame.ts';
import { locateDigit, type Box, type Polarity } from './ink.ts';
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
  const located = locateDigit(working, resolved.minInkContrast);
  const crop = normaliseStrokeWidth({ ink: located.ink, width: located.box.width, height: located.box.height });
  const box = digitBoxSize(crop.width, crop.height);
  // The pixels sharp's Lanczos-3 resize gives (anti-aliased when shrinking), without a sharp round trip.
  const digit = resizeGrey({ data: crop.ink, width: crop.width, height: crop.height }, box.width, box.height);
  const pixels = centreInFrame(digit.data, digit.width, digit.height);
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
