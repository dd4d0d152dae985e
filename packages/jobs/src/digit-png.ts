/**
 * A 28x28 digit (784 bytes, MNIST convention: white ink on black) as an
 * 8-bit greyscale PNG, and back: the feedback store's one file per correction
 * on disk and in its exports. @digitq/imaging holds the PNG code.
 *
 * Decoding takes a plain 8-bit PNG of the digit's size (what the encoder
 * writes, or the same file re-saved by an image tool without a palette or
 * colour profile) and returns null for anything else.
 */
import { DIGIT_SIDE, PIXELS_PER_IMAGE } from '@digitq/contracts';
import { decodePlainPng, encodeGreyPng } from '@digitq/imaging';

/** The digit's 784 bytes as a PNG file. */
export function encodeDigitPng(pixels: Uint8Array): Uint8Array {
  if (pixels.length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} pixels, got ${pixels.length}`);
  return encodeGreyPng({ data: pixels, width: DIGIT_SIDE, height: DIGIT_SIDE });
}

/** The digit's 784 bytes from a PNG, or null when it is not an intact 28x28 8-bit greyscale PNG. */
export function decodeDigitPng(bytes: Uint8Array): Uint8Array | null {
  const decoded = decodePlainPng(bytes, DIGIT_SIDE, PIXELS_PER_IMAGE);
  return decoded && decoded.channels === 1 && decoded.width === DIGIT_SIDE && decoded.height === DIGIT_SIDE ? decoded.data : null;
}
