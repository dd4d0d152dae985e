/**
 * An inference request body (Open Inference Protocol, inference_rest.md
 * "Inference Request JSON Object", with the binary tensor data extension)
 * -> what digitq runs: the images of its one input, and the outputs asked
 * for. Everything a request can get wrong is VALIDATION_FAILED or
 * TOO_MANY_IMAGES (400: "A failed inference request must be indicated by an
 * HTTP error status (typically 400)"), before anything is enqueued.
 */
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { AppError, PIXELS_PER_IMAGE, quantizePixels } from '@digitq/contracts';
import { decodeBase64Image } from '../intake/base64-image.ts';
import { parseOrThrow } from '../intake/parse.ts';
import { MAX_JSON_DEPTH, jsonNestsDeeperThan } from '../middleware/body.ts';
import type { NamedImage } from '../use-cases/preprocess.ts';
import { splitBinaryBody } from './binary.ts';
import { FP32_BYTES, IMAGE_INPUT, PIXELS_INPUT, PROBABILITIES_OUTPUT, pixelsShape, readBytesElements, readFp32 } from './tensors.ts';

/** "$parameter = $string : $string | $number | $boolean" */
const parametersSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

const requestInputSchema = z.object({
  name: z.string(),
  // "Each dimension must be an integer representable as an unsigned 64-bit integer value."
  shape: z.array(z.number().int().nonnegative()),
  datatype: z.string(),
  parameters: parametersSchema.optional(),
  // Absent when the tensor comes as binary data (binary_data_size).
  data: z.array(z.unknown()).optional(),
});

const inferenceRequestSchema = z.object({
  id: z.string().optional(),
  parameters: parametersSchema.optional(),
  inputs: z.array(requestInputSchema).min(1),
  outputs: z.array(z.object({ name: z.string(), parameters: parametersSchema.optional() })).optional(),
});
type RequestInput = z.infer<typeof requestInputSchema>;
type Parameters = z.infer<typeof parametersSchema>;

/** Parameters of Triton's shared-memory extensions, which digitq does not support (it does not list them in /v2). */
const SHARED_MEMORY_PARAMETERS = ['shared_memory_region', 'shared_memory_byte_size', 'shared_memory_offset'];

export type InferInput =
  /** The pixels input: 784 bytes per image in @digitq/contracts' pixel convention, ready for a job. */
  | { kind: 'pixels'; pixels: Uint8Array[] }
  /** The image input: encoded images, to preprocess as uploads are. */
  | { kind: 'images'; images: NamedImage[] };

export interface RequestedOutput {
  name: string;
  binary: boolean;
  /** Classification extension: return this many top classes as BYTES strings; null: the raw tensor. */
  classification: number | null;
}

export interface InferRequest {
  id: string | undefined;
  input: InferInput;
  outputs: RequestedOutput[];
}

function invalid(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message);
}

function parseHeaderJson(bytes: Buffer): unknown {
  if (!isUtf8(bytes)) throw invalid('the inference request JSON is not valid UTF-8');
  if (jsonNestsDeeperThan(bytes, MAX_JSON_DEPTH)) throw invalid(`the inference request JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `the inference request is not valid JSON: ${(error as Error).message}`, {}, { cause: error });
  }
}

/** The header's value as a byte count; absent: the whole body is JSON. */
function headerLengthOf(value: string | undefined, bodyBytes: number): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value.trim())) throw invalid(`Inference-Header-Content-Length must be a byte count, not ${JSON.stringify(value)}`);
  const length = Number(value.trim());
  if (length === 0 || length > bodyBytes) throw invalid(`Inference-Header-Content-Length ${length} is not within the body's ${bodyBytes} bytes`);
  return length;
}

function booleanParameter(parameters: Parameters | undefined, name: string, where: string): boolean | undefined {
  const value = parameters?.[name];
  if (value !== undefined && typeof value !== 'boolean') throw invalid(`${where}parameters.${name} must be a boolean`);
  return value;
}

function refuseSharedMemory(parameters: Parameters | undefined, where: string): void {
  const used = SHARED_MEMORY_PARAMETERS.find((name) => parameters?.[name] !== undefined);
  if (used) throw invalid(`${where}parameters.${used}: the shared-memory extensions are not supported by this server`);
}

/**
 * Each input's binary data, taken from after the JSON in input order
 * ("in the same order as the order of the input ... tensors are specified in
 * the JSON"); every byte of it must belong to an input.
 */
function binaryOfInputs(inputs: readonly RequestInput[], binary: Buffer): (Buffer | null)[] {
  let offset = 0;
  const slices = inputs.map((input, i) => {
    const size = input.parameters?.binary_data_size;
    if (size === undefined) return null;
    const where = `inputs[${i}] (${input.name})`;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}: parameters.binary_data_size must be a byte count`);
    if (input.data !== undefined) throw invalid(`${where}: has both "data" and parameters.binary_data_size; send one`);
    if (offset + size > binary.length) {
      throw invalid(`${where}: binary_data_size ${size} goes past the end of the binary data (${binary.length - offset} bytes left after the JSON and the inputs before it)`);
    }
    const slice = binary.subarray(offset, offset + size);
    offset += size;
    return slice;
  });
  if (offset !== binary.length) {
    throw invalid(`the body has ${binary.length} bytes after the JSON (Inference-Header-Content-Length) but the inputs' binary_data_size add up to ${offset}`);
  }
  return slices;
}

/** A JSON tensor's elements in row-major order, whether given nested or flat ("Tensor Data"). */
function flatten(data: readonly unknown[]): unknown[] {
  return data.flat(MAX_JSON_DEPTH);
}

function checkCount(count: number, maxImages: number, where: string): void {
  if (count < 1) throw invalid(`${where}: the batch dimension is 0; send at least one image`);
  if (count > maxImages) throw new AppError('TOO_MANY_IMAGES', `${where}: ${count} images in one request; at most ${maxImages}`);
}

function pixelsInput(input: RequestInput, binary: Buffer | null, maxImages: number): InferInput {
  const where = `input ${input.name}`;
  const expected = pixelsShape(input.shape[0] ?? 0);
  if (input.shape.length !== expected.length || input.shape.some((dim, i) => i > 0 && dim !== expected[i])) {
    throw invalid(`${where}: shape ${JSON.stringify(input.shape)} is not [N, ${expected.slice(1).join(', ')}]`);
  }
  const count = input.shape[0]!;
  checkCount(count, maxImages, where);
  const elements = count * PIXELS_PER_IMAGE;
  let values: Float32Array;
  if (binary) {
    if (binary.length !== elements * FP32_BYTES) throw invalid(`${where}: binary_data_size is ${binary.length} bytes; shape ${JSON.stringify(input.shape)} of FP32 is ${elements * FP32_BYTES}`);
    values = readFp32(binary, elements);
  } else {
    const data = flatten(input.data ?? []);
    if (data.length !== elements) throw invalid(`${where}: ${data.length} elements in "data"; shape ${JSON.stringify(input.shape)} has ${elements}`);
    values = new Float32Array(elements);
    data.forEach((value, i) => {
      if (typeof value !== 'number') throw invalid(`${where}: element ${i} is not a number`);
      values[i] = value;
    });
  }
  // The model's inputs are in [0, 1]; a client sending 0-255 would otherwise get confident nonsense.
  const outside = values.findIndex((value) => !(value >= 0 && value <= 1));
  if (outside !== -1) throw invalid(`${where}: element ${outside} is ${values[outside]}; pixels are in [0, 1] (0 = background, 1 = ink)`);
  const pixels = Array.from({ length: count }, (_, i) => quantizePixels(values.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE)));
  return { kind: 'pixels', pixels };
}

function imageInput(input: RequestInput, binary: Buffer | null, maxImages: number): InferInput {
  const where = `input ${input.name}`;
  if (input.shape.length !== 1) throw invalid(`${where}: shape ${JSON.stringify(input.shape)} is not [N]`);
  const count = input.shape[0]!;
  checkCount(count, maxImages, where);
  let images: NamedImage[];
  if (binary) {
    let elements: Uint8Array[];
    try {
      elements = readBytesElements(binary);
    } catch (error) {
      throw new AppError('VALIDATION_FAILED', `${where}: ${(error as Error).message}`, {}, { cause: error });
    }
    images = elements.map((bytes, i) => ({ name: `${input.name}[${i}]`, bytes }));
  } else {
    // JSON cannot carry raw bytes: each element is the image file in base64 (or a data: URL).
    const data = flatten(input.data ?? []);
    images = data.map((value, i) => {
      if (typeof value !== 'string') throw invalid(`${where}: element ${i} is not a string (an image file in base64)`);
      return { ...decodeBase64Image(value, i, data.length), name: `${input.name}[${i}]` };
    });
  }
  if (images.length !== count) throw invalid(`${where}: ${images.length} elements; shape ${JSON.stringify(input.shape)} has ${count}`);
  return { kind: 'images', images };
}

const INPUTS_HINT = `"${PIXELS_INPUT.name}" (${PIXELS_INPUT.datatype} ${JSON.stringify(PIXELS_INPUT.shape)}) or "${IMAGE_INPUT.name}" (${IMAGE_INPUT.datatype} ${JSON.stringify(IMAGE_INPUT.shape)})`;

function modelInput(inputs: readonly RequestInput[], binaries: readonly (Buffer | null)[], maxImages: number): InferInput {
  if (inputs.length !== 1) throw invalid(`the model takes one input, ${INPUTS_HINT}; the request has ${inputs.length}`);
  const input = inputs[0]!;
  refuseSharedMemory(input.parameters, `input ${input.name}: `);
  const binary = binaries[0] ?? null;
  if (!binary && input.data === undefined) throw invalid(`input ${input.name}: no "data" and no parameters.binary_data_size`);
  const known = input.name === PIXELS_INPUT.name ? PIXELS_INPUT : input.name === IMAGE_INPUT.name ? IMAGE_INPUT : null;
  if (!known) throw invalid(`unknown input ${JSON.stringify(input.name)}: the model's inputs are ${INPUTS_HINT}`);
  if (input.datatype !== known.datatype) throw invalid(`input ${input.name}: datatype ${input.datatype} is not supported; it is ${known.datatype}`);
  return known === PIXELS_INPUT ? pixelsInput(input, binary, maxImages) : imageInput(input, binary, maxImages);
}

function requestedOutputs(request: z.infer<typeof inferenceRequestSchema>): RequestedOutput[] {
  // binary_data_output: "true if all outputs should be returned as binary data ... If "binary_data" is specified on an output it overrides this setting."
  const allBinary = booleanParameter(request.parameters, 'binary_data_output', '') ?? false;
  // "Optional, if not specified all outputs produced by the model will be returned using default $request_output settings."
  const asked = request.outputs ?? [{ name: PROBABILITIES_OUTPUT.name }];
  const seen = new Set<string>();
  return asked.map((output, i) => {
    const where = `outputs[${i}] (${output.name}): `;
    if (output.name !== PROBABILITIES_OUTPUT.name) throw invalid(`unknown output ${JSON.stringify(output.name)}: the model's output is "${PROBABILITIES_OUTPUT.name}"`);
    if (seen.has(output.name)) throw invalid(`${where}asked for twice`);
    seen.add(output.name);
    const parameters = 'parameters' in output ? output.parameters : undefined;
    refuseSharedMemory(parameters, where);
    const classification = parameters?.classification;
    if (classification !== undefined && (typeof classification !== 'number' || !Number.isInteger(classification) || classification < 1)) {
      throw invalid(`${where}parameters.classification must be a whole number of classes, at least 1`);
    }
    return { name: output.name, binary: booleanParameter(parameters, 'binary_data', where) ?? allBinary, classification: classification ?? null };
  });
}

/**
 * The whole body -> the request. `headerLength` is the
 * Inference-Header-Content-Length header as sent: absent, the body is the
 * JSON object alone.
 */
export function decodeInferRequest(body: Buffer, headerLength: string | undefined, maxImages: number): InferRequest {
  const length = headerLengthOf(headerLength, body.length);
  const { header, binary } = length === null ? { header: body, binary: Buffer.alloc(0) } : splitBinaryBody(body, length);
  const request = parseOrThrow(inferenceRequestSchema, parseHeaderJson(header), 'inference request');
  refuseSharedMemory(request.parameters, '');
  if (length === null && request.inputs.some((input) => input.parameters?.binary_data_size !== undefined)) {
    throw invalid('binary_data_size is given but there is no Inference-Header-Content-Length header saying where the JSON ends');
  }
  const binaries = binaryOfInputs(request.inputs, binary);
  return { id: request.id, input: modelInput(request.inputs, binaries, maxImages), outputs: requestedOutputs(request) };
}
