/**
 * @digitq/imaging: uploaded image bytes -> the model's 28x28 input, with
 * sharp only. The package does not import tfjs: it returns Float32Arrays and
 * the worker batches them into a tensor (predictDigits in @digitq/model), so
 * no tensor is ever created, or leaked, here.
 */
export * from './errors.ts';
export * from './options.ts';
export { IMAGE_FORMATS, IMAGE_FORMAT_MEDIA_TYPES, detectImageFormat, type ImageFormat } from './decode.ts';
export type { Box, Polarity } from './ink.ts';
export { CENTRE_OF_MASS_TARGET, DIGIT_BOX_SIDE, FRAME_PIXELS, FRAME_SIDE, centreOfMass } from './frame.ts';
export * from './preprocess.ts';
