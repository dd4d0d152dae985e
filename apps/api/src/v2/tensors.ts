/**
 * Tensor data as the Open Inference Protocol carries it, and digitq's model
 * as a V2 model: its input and output tensors, and the classification
 * extension's "<value>:<index>[:<label>]" strings.
 *
 * Binary layout (binary tensor data extension, Triton
 * docs/protocol/extension_binary_data.md): "little-endian byte order, row
 * major, without stride or padding between elements"; FP32 is 4 bytes an
 * element; "For BYTES type an element is represented by a 4-byte unsigned
 * integer giving the length followed by the actual bytes".
 */
import { DIGIT_CLASSES, DIGIT_SIDE } from '@digitq/contracts';

export const FP32 = 'FP32';
export const BYTES = 'BYTES';
export const FP32_BYTES = 4;
/** The length prefix of a BYTES element: a 4-byte unsigned little-endian integer. */
export const BYTES_LENGTH_PREFIX = 4;

/** A variable-size dimension in model metadata ("Variable-size dimensions are specified as -1"). */
export const VARIABLE_DIM = -1;
const CHANNELS = 1;

/** The model input: preprocessed digits, N x 28 x 28 x 1 floats in [0, 1], white ink on black (MNIST). */
export const PIXELS_INPUT = { name: 'input', datatype: FP32, shape: [VARIABLE_DIM, DIGIT_SIDE, DIGIT_SIDE, CHANNELS] } as const;
/** The other input: N encoded images (PNG, JPEG, ...), preprocessed by digitq as an uploaded image is. */
export const IMAGE_INPUT = { name: 'image', datatype: BYTES, shape: [VARIABLE_DIM] } as const;
/** The model output: one probability per digit 0-9 for each image. */
export const PROBABILITIES_OUTPUT = { name: 'probabilities', datatype: FP32, shape: [VARIABLE_DIM, DIGIT_CLASSES] } as const;

/** The shape of N images as the pixels input takes them. */
export function pixelsShape(count: number): number[] {
  return [count, DIGIT_SIDE, DIGIT_SIDE, CHANNELS];
}

/** `count` FP32 elements from little-endian bytes (the caller has checked the length). */
export function readFp32(bytes: Uint8Array, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * FP32_BYTES, true);
  return values;
}

/** FP32 elements as little-endian bytes. */
export function writeFp32(values: ArrayLike<number>): Buffer {
  const bytes = Buffer.allocUnsafe(values.length * FP32_BYTES);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i]!, i * FP32_BYTES);
  return bytes;
}

/** BYTES elements from their binary form (length-prefixed); a RangeError says where it does not add up. */
export function readBytesElements(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + BYTES_LENGTH_PREFIX > bytes.length) {
      throw new RangeError(`element ${elements.length} has a truncated length prefix (${bytes.length - offset} of ${BYTES_LENGTH_PREFIX} bytes)`);
    }
    const length = view.getUint32(offset, true);
    offset += BYTES_LENGTH_PREFIX;
    if (offset + length > bytes.length) {
      throw new RangeError(`element ${elements.length} declares ${length} bytes but only ${bytes.length - offset} remain`);
    }
    elements.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return elements;
}

/** BYTES elements in their binary form: each one's length (uint32, little-endian), then its bytes. */
export function writeBytesElements(elements: readonly (Uint8Array | string)[]): Buffer {
  const buffers = elements.map((element) => (typeof element === 'string' ? Buffer.from(element, 'utf8') : element));
  const bytes = Buffer.allocUnsafe(buffers.reduce((sum, b) => sum + BYTES_LENGTH_PREFIX + b.length, 0));
  let offset = 0;
  for (const buffer of buffers) {
    bytes.writeUInt32LE(buffer.length, offset);
    bytes.set(buffer, offset + BYTES_LENGTH_PREFIX);
    offset += BYTES_LENGTH_PREFIX + buffer.length;
  }
  return bytes;
}

/**
 * The classification extension (Triton docs/protocol/extension_classification.md):
 * the `count` highest-valued classes of one image, highest first, each as
 * "<value>:<index>:<label>"; a digit's label is the digit itself. Equal values
 * keep index order. A count above the number of classes gives every class.
 */
export function classify(probabilities: readonly number[], count: number): string[] {
  return probabilities
    .map((value, index) => ({ value, index }))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .slice(0, count)
    .map(({ value, index }) => `${value}:${index}:${index}`);
}
