/**
 * @digitq/imaging: uploaded image bytes -> the model's 28x28 input (MNIST
 * convention: white ink on black, [0, 1], digit scaled to a 20-px box and
 * centred by mass). One decode per image; everything after it is JS on
 * typed arrays.
 *
 *   decode: small plain PNGs in JS              png.ts, decode.ts  decodeImage
 *   decode: anything else, one sharp pass       decode.ts          decodeImage (header read, then first frame,
 *           (header read first: format, pixels)                      EXIF, longer side <= workingSize)
 *   luminance, alpha flattened                  decode.ts          flattenToLuma
 *   background plane, polarity, ink crop        background.ts, ink.ts
 *   thin pen strokes thickened                  stroke.ts
 *   20-px box (sharp's Lanczos-3, in JS)        resize.ts
 *   centre of mass, [0, 1]                      frame.ts
 *
 * The package does not import tfjs: it returns Float32Arrays and the worker
 * batches them into one tensor (predictDigits in @digitq/model), so no tensor
 * is created, or leaked, here.
 *
 * Test fixtures (digits drawn with sharp) are a separate entry,
 * `@digitq/imaging/test-images`, so production code never loads them.
 * This package sets no global sharp state on import: entrypoints call
 * configureImaging() once.
 */
export { configureImaging } from './configure.ts';
export * from './errors.ts';
export * from './options.ts';
export { IMAGE_FORMATS, IMAGE_FORMAT_MEDIA_TYPES, detectImageFormat, type ImageFormat } from './decode.ts';
export type { Box, Polarity } from './ink.ts';
export { CENTRE_OF_MASS_TARGET, DIGIT_BOX_SIDE, FRAME_PIXELS, FRAME_SIDE, centreOfMass } from './frame.ts';
export * from './preprocess.ts';
export { DEGRADATIONS_VERSION, ROBUSTNESS_DEGRADATIONS, degradeForTraining, randomDegradation, type Degradation } from './degrade.ts';
export { decodePlainPng, encodeGreyPng, type RawPixels } from './png.ts';
export type { GreyImage } from './decode.ts';
