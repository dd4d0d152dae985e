/**
 * Bodies of the binary tensor data extension (Triton
 * docs/protocol/extension_binary_data.md): "the JSON inference request or
 * response object followed by the binary tensor data in the same order as
 * the order of the input or output tensors are specified in the JSON", with
 * the Inference-Header-Content-Length header giving "the length of the JSON
 * object" in bytes (Content-Length still gives the whole body's).
 *
 * The server splits requests and joins responses here; clients (tests, the
 * benchmark) build requests and read responses with the same functions.
 */
import { PIXELS_PER_IMAGE } from '@digitq/contracts';
import { PIXELS_INPUT, PROBABILITIES_OUTPUT, FP32_BYTES, pixelsShape, readFp32, writeFp32 } from './tensors.ts';

/** The header naming the JSON object's byte length; Node lower-cases header names. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';
/** Content type of a body with binary tensors (the extension's examples). */
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

export interface EncodedBody {
  body: Buffer;
  /** The JSON object's byte length: the Inference-Header-Content-Length value. */
  headerLength: number;
}

/** JSON header, then each tensor's bytes in order. */
export function joinBinaryBody(header: unknown, tensors: readonly Uint8Array[]): EncodedBody {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...tensors]), headerLength: json.length };
}

/** The JSON header's bytes and the binary data after it; a RangeError when the header length does not fit the body. */
export function splitBinaryBody(body: Buffer, headerLength: number): { header: Buffer; binary: Buffer } {
  if (!Number.isSafeInteger(headerLength) || headerLength <= 0 || headerLength > body.length) {
    throw new RangeError(`Inference-Header-Content-Length ${headerLength} is not within the body's ${body.length} bytes`);
  }
  return { header: body.subarray(0, headerLength), binary: body.subarray(headerLength) };
}

export interface EncodeInferRequestOptions {
  /** Ask for the probabilities as binary data too (binary_data_output). Default false: JSON. */
  binaryOutput?: boolean;
  /** The request's id, echoed in the response. */
  id?: string;
}

/**
 * A binary-extension inference request for digitnet's pixels input: N images
 * of 784 floats in [0, 1] (28x28, white ink on black), row-major, sent as raw
 * little-endian float32 after the JSON header. Send `body` with the headers
 * `Inference-Header-Content-Length: <headerLength>` and
 * `Content-Type: application/octet-stream`.
 */
export function encodeInferRequest(pixels: readonly Float32Array[], options: EncodeInferRequestOptions = {}): EncodedBody {
  const data = new Float32Array(pixels.length * PIXELS_PER_IMAGE);
  pixels.forEach((image, i) => {
    if (image.length !== PIXELS_PER_IMAGE) throw new RangeError(`image ${i} has ${image.length} pixels, not ${PIXELS_PER_IMAGE}`);
    data.set(image, i * PIXELS_PER_IMAGE);
  });
  const tensor = writeFp32(data);
  const header = {
    ...(options.id === undefined ? {} : { id: options.id }),
    inputs: [{ name: PIXELS_INPUT.name, shape: pixelsShape(pixels.length), datatype: PIXELS_INPUT.datatype, parameters: { binary_data_size: tensor.length } }],
    outputs: [{ name: PROBABILITIES_OUTPUT.name, parameters: { binary_data: options.binaryOutput ?? false } }],
  };
  return joinBinaryBody(header, [tensor]);
}

interface ResponseOutput {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

/**
 * An inference response (JSON, or JSON and binary outputs when
 * `headerLength` is given) with each binary output's bytes read back:
 * FP32 as numbers, anything else as its raw bytes.
 */
export function decodeInferResponse(
  body: Buffer,
  headerLength: number | null,
): { header: Record<string, unknown> & { outputs: ResponseOutput[] }; binary: Map<string, Uint8Array | number[]> } {
  const { header, binary } = headerLength === null ? { header: body, binary: Buffer.alloc(0) } : splitBinaryBody(body, headerLength);
  const parsed = JSON.parse(header.toString('utf8')) as Record<string, unknown> & { outputs: ResponseOutput[] };
  const outputs = new Map<string, Uint8Array | number[]>();
  let offset = 0;
  for (const output of parsed.outputs) {
    const size = output.parameters?.binary_data_size;
    if (typeof size !== 'number') continue;
    const bytes = binary.subarray(offset, offset + size);
    offset += size;
    outputs.set(output.name, output.datatype === PROBABILITIES_OUTPUT.datatype ? Array.from(readFp32(bytes, size / FP32_BYTES)) : bytes);
  }
  return { header: parsed, binary: outputs };
}
