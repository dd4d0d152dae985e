/**
 * The model's input, one convention from preprocessing to the model: a digit
 * is 28x28 grey pixels, row-major, white ink on black as MNIST stores it, one
 * byte each (0 = background, 255 = ink).
 *
 * One codec carries it: imaging quantises once to these bytes; a job carries
 * them as base64 (encodePixels, ~1 KB per image); a worker decodes them back
 * to bytes (decodePixels) and packs a whole micro-batch into the model's
 * N x 784 floats in [0, 1] in one pass (packModelBatch). Every size in the
 * project (datasets, imaging, model, engines) comes from here.
 */

export const DIGIT_SIDE = 28;
export const PIXELS_PER_IMAGE = DIGIT_SIDE * DIGIT_SIDE;
/** Outputs of the model: one probability per digit 0-9. */
export const DIGIT_CLASSES = 10;
/** base64 of PIXELS_PER_IMAGE bytes. */
export const ENCODED_IMAGE_LENGTH = Math.ceil(PIXELS_PER_IMAGE / 3) * 4;
const MAX_BYTE = 255;

function checkLength(length: number, what: string): void {
  if (length !== PIXELS_PER_IMAGE) throw new RangeError(`expected ${PIXELS_PER_IMAGE} ${what}, got ${length}`);
}

/** Pixel bytes -> the base64 a job carries. */
export function encodePixels(pixels: Uint8Array): string {
  checkLength(pixels.length, 'pixels');
  return Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength).toString('base64');
}

/** Inverse of encodePixels. */
export function decodePixels(encoded: string): Uint8Array {
  const bytes = Buffer.from(encoded, 'base64');
  checkLength(bytes.length, 'pixels');
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Images as the model takes them: N x 784 floats in [0, 1], image after image, in one allocation. */
export function packModelBatch(images: readonly Uint8Array[]): Float32Array {
  const batch = new Float32Array(images.length * PIXELS_PER_IMAGE);
  let offset = 0;
  for (const image of images) {
    checkLength(image.length, 'pixels');
    for (let i = 0; i < PIXELS_PER_IMAGE; i++) batch[offset + i] = image[i]! / MAX_BYTE;
    offset += PIXELS_PER_IMAGE;
  }
  return batch;
}

/** Float pixels in [0, 1] -> bytes, as MNIST stores them (for inputs made as floats: augmentation, tests). */
export function quantizePixels(pixels: Float32Array): Uint8Array {
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, pixels[i]!)) * MAX_BYTE);
  return bytes;
}
