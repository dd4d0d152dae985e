/**
 * Half-precision variants of the exporter's float graphs. Two forms:
 *
 * - 'weights': every float constant stored as float16 and Cast back to
 *   float32 where the graph starts. The file is half the size; ONNX Runtime
 *   folds the Casts when it loads the model, so it computes in float32 on the
 *   float16-rounded weights and runs exactly as fast as model.onnx.
 * - 'compute': weights and every value between a Cast after the input and a
 *   Cast before the output are float16, for runtimes with float16 kernels
 *   (ONNX Runtime's CUDA provider). ONNX Runtime's CPU provider on x86 has
 *   none for Conv and Gemm: it inserts Casts and computes them in float32
 *   anyway (its optimized graph shows it), so on CPU 'weights' is the form to serve.
 *
 * Inputs and outputs stay float32 in both, so either serves where model.onnx does.
 */
import type { OnnxModel, OnnxNode, OnnxTensor } from './onnx-proto.ts';

export const FLOAT16_MODES = ['weights', 'compute'] as const;
export type Float16Mode = (typeof FLOAT16_MODES)[number];

/** TensorProto.DataType values for Cast's `to`. */
const CAST_TO_FLOAT = 1;
const CAST_TO_FLOAT16 = 10;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary16 bits of a float32 value, rounded to nearest even (overflow → ±Infinity, NaN kept). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal in half precision: units of 2^-24, the implicit leading 1 made explicit.
    const shift = 126 - exponent;
    if (shift > 24) return sign;
    const m = mantissa | 0x800000;
    let half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = sign | (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correctly rounded result.
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
}

/** The value of IEEE 754 binary16 bits. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function toFloat16Tensor(tensor: OnnxTensor, name = tensor.name): OnnxTensor {
  if (tensor.type !== undefined && tensor.type !== 'float') return tensor;
  return { name, dims: tensor.dims, type: 'float16', data: Uint16Array.from(tensor.data, toFloat16Bits) };
}

function cast(name: string, input: string, output: string, to: number): OnnxNode {
  return { name, opType: 'Cast', inputs: [input], outputs: [output], attributes: [{ name: 'to', kind: 'int', value: to }] };
}

/** The float16 variant of a float graph (see the two modes above). */
export function float16Model(model: OnnxModel, mode: Float16Mode): OnnxModel {
  const { graph } = model;
  const floats = graph.initializers.filter((t) => t.type === undefined || t.type === 'float');
  let nodes: OnnxNode[];
  let initializers: OnnxTensor[];
  if (mode === 'weights') {
    initializers = graph.initializers.map((t) => (floats.includes(t) ? toFloat16Tensor(t, `${t.name}:fp16`) : t));
    nodes = [...floats.map((t) => cast(`${t.name}/Cast`, `${t.name}:fp16`, t.name, CAST_TO_FLOAT)), ...graph.nodes];
  } else {
    if (graph.inputs.length !== 1 || graph.outputs.length !== 1) throw new Error('float16 compute needs a graph with one input and one output');
    const input = graph.inputs[0]!.name;
    const output = graph.outputs[0]!.name;
    const rename = (name: string) => (name === input ? `${input}:fp16` : name === output ? `${output}:fp16` : name);
    initializers = graph.initializers.map((t) => toFloat16Tensor(t));
    nodes = [
      cast(`${input}/Cast`, input, `${input}:fp16`, CAST_TO_FLOAT16),
      ...graph.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) })),
      cast(`${output}/Cast`, `${output}:fp16`, output, CAST_TO_FLOAT),
    ];
  }
  return { ...model, metadata: { ...model.metadata, 'digitq.variant': `fp16 (${mode})` }, graph: { ...graph, nodes, initializers } };
}
