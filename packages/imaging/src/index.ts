/**
 * @digitq/imaging: uploaded image bytes -> the model's 28x28 input (MNIST
 * convention: white ink on black, [0, 1], digit scaled to a 20-px box and
 * centred by mass), with sharp only.
 *
 *   header check (bytes, format, pixels)   decode.ts   readImageHeader
 *   decode first frame, EXIF, alpha, grey  decode.ts   decodeWorkingImage (longer side <= workingSize)
 *   background plane, polarity, ink crop   background.ts, ink.ts
 *   thin pen strokes thickened             stroke.ts
 *   20-px box, centre of mass, [0, 1]      preprocess.ts (sharp resize), frame.ts
 *
 * The package does not import tfjs: it returns Float32Arrays and the worker
 * batches them into one tensor (predictDigits in @digitq/model), so no tensor
 * is created, or leaked, here.
 *
 * Test fixtures (digits drawn with sharp) are a separate entry,
 * `@digitq/imaging/test-images`, so production code never loads them.
 * Entrypoints that process many unique uploads may want `sharp.cache(false)`;
 * this package sets no global sharp state.
 */
export * from './errors.ts';
export * from './options.ts';
export { IMAGE_FORMATS, IMAGE_FORMAT_MEDIA_TYPES, detectImageFormat, type ImageFormat } from './decode.ts';
export type { Box, Polarity } from './ink.ts';
export { CENTRE_OF_MASS_TARGET, DIGIT_BOX_SIDE, FRAME_PIXELS, FRAME_SIDE, centreOfMass } from './frame.ts';
export * from './preprocess.ts';
