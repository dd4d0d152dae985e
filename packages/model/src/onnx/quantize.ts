/**
 * Static int8 quantization of the exporter's float graphs, in QDQ form: the
 * graph stays a standard ONNX graph of float ops, with QuantizeLinear /
 * DequantizeLinear pairs saying which values are integers, and ONNX Runtime's
 * optimizer fuses each DQ→Conv(→Relu)→Q group into QLinearConv, DQ→Gemm into
 * QGemm, and drops the pairs around MaxPool and Flatten so those run on the
 * integers too.
 *
 * - Weights of Conv (ONNX [out, in, kh, kw]) and Gemm (B [in, out]) are int8,
 *   one symmetric scale per output channel (zero point 0, range ±127);
 * - biases are int32 with scale input_scale × weight_scale[channel], the
 *   form QLinearConv and QGemm add to their integer accumulators;
 * - activations are uint8 with a scale and zero point from the range the
 *   float graph produced on calibration images (calibrate.ts), widened to
 *   include 0 so zero (padding, ReLU's floor) is exact. uint8 activations
 *   with int8 weights is the pairing ONNX Runtime's x86 and ARM kernels
 *   (U8S8) all take.
 *
 * Values are quantized from the input of the first Conv/Gemm to the input of
 * the last: a Conv or Gemm followed by Relu is quantized after the Relu (the
 * zero point 0 makes the Relu redundant, and ORT folds it in); ops that only
 * move values (MaxPool, Flatten, ...) keep their input's scale so ORT can run
 * them on the integers; the last Gemm answers in float for the Softmax.
 */
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from './onnx-proto.ts';

/** Symmetric int8 weights use ±127 (not -128), so negating a weight never overflows. */
export const INT8_WEIGHT_MAX = 127;
export const UINT8_MAX = 255;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Which axis of each quantized op's weight holds its output channels. */
const WEIGHT_CHANNEL_AXIS: Record<string, number> = { Conv: 0, Gemm: 1 };
/** Ops whose output values are a subset of their input values: same scale and zero point in and out. */
const PASS_THROUGH_OPS = new Set(['MaxPool', 'Flatten', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze']);

/** The smallest and largest value a tensor took on the calibration images. */
export interface TensorRange {
  min: number;
  max: number;
}

export interface ActivationQuantization {
  scale: number;
  zeroPoint: number;
}

export interface PerChannelWeights {
  data: Int8Array;
  /** One per output channel. */
  scales: Float32Array;
}

export class UnsupportedGraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedGraphError';
  }
}

function clamp(value: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, value));
}

/**
 * int8 weights with one symmetric scale per slice along `axis` (max |w| / 127;
 * a slice of zeros gets scale 1). The scale is rounded to float32 before the
 * weights are divided by it, as DequantizeLinear will multiply by that value.
 */
export function quantizeWeightsPerChannel(weights: Float32Array, dims: readonly number[], axis: number): PerChannelWeights {
  const channels = dims[axis];
  if (channels === undefined) throw new RangeError(`axis ${axis} is outside dims ${JSON.stringify(dims)}`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== weights.length) throw new RangeError(`dims ${JSON.stringify(dims)} hold ${size} values, got ${weights.length}`);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < weights.length; i++) maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)]!, Math.abs(weights[i]!));
  const scales = Float32Array.from(maxAbs, (m) => (m > 0 ? m / INT8_WEIGHT_MAX : 1));
  const data = new Int8Array(weights.length);
  for (let i = 0; i < weights.length; i++) data[i] = clamp(Math.round(weights[i]! / scales[channelOf(i)]!), -INT8_WEIGHT_MAX, INT8_WEIGHT_MAX);
  return { data, scales };
}

/** uint8 scale and zero point covering `range` widened to include 0 (so 0 is exactly representable). */
export function activationQuantization(range: TensorRange): ActivationQuantization {
  const min = Math.min(0, range.min);
  const max = Math.max(0, range.max);
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RangeError(`range ${JSON.stringify(range)} is not finite`);
  if (max === min) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((max - min) / UINT8_MAX);
  return { scale, zeroPoint: clamp(Math.round(-min / scale), 0, UINT8_MAX) };
}

/** Where each quantized tensor takes its scale and zero point from: its own range, or a pass-through op's input. */
interface QdqPlan {
  nodes: OnnxNode[];
  /** Quantized tensor → the tensor whose calibrated range sets its parameters. */
  quantized: Map<string, string>;
  input: string;
}

function isWeighted(node: OnnxNode, initializers: ReadonlyMap<string, OnnxTensor>): boolean {
  return node.opType in WEIGHT_CHANNEL_AXIS && initializers.has(node.inputs[1] ?? '');
}

function planQdq(model: OnnxModel): QdqPlan {
  const { nodes, inputs } = model.graph;
  const input = inputs[0]?.name;
  if (inputs.length !== 1 || !input) throw new UnsupportedGraphError('only graphs with one input are quantized');
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t]));
  // The exporter's graphs are chains: each node consumes the one before it.
  nodes.forEach((node, i) => {
    const previous = i === 0 ? input : nodes[i - 1]!.outputs[0];
    if (node.inputs[0] !== previous || node.outputs.length !== 1) throw new UnsupportedGraphError(`node ${node.name} does not continue a single chain from the input`);
    if (node.inputs.slice(1).some((name) => name && !initializers.has(name))) throw new UnsupportedGraphError(`node ${node.name} takes a second input that is not a constant`);
  });
  const weighted = nodes.flatMap((node, i) => (isWeighted(node, initializers) ? [i] : []));
  if (weighted.length === 0) throw new UnsupportedGraphError('the graph has no Conv or Gemm with constant weights to quantize');
  const quantized = new Map<string, string>();
  for (let i = weighted[0]! - 1; i < weighted.at(-1)!; i++) {
    const producer = i >= 0 ? nodes[i]! : null;
    const tensor = producer ? producer.outputs[0]! : input;
    // Conv → Relu → Q: the Relu's output is quantized, and ORT fuses all three.
    if (producer && isWeighted(producer, initializers) && nodes[i + 1]!.opType === 'Relu') continue;
    const inherited = producer && PASS_THROUGH_OPS.has(producer.opType) ? quantized.get(producer.inputs[0]!) : undefined;
    quantized.set(tensor, inherited ?? tensor);
  }
  return { nodes, quantized, input };
}

/** The tensors whose value ranges quantizeInt8 needs (calibrate them with calibrateRanges). */
export function calibrationTensors(model: OnnxModel): string[] {
  return [...new Set(planQdq(model).quantized.values())];
}

/**
 * The QDQ int8 graph of a float graph, given each calibration tensor's range.
 * Inputs and outputs stay float32, so it serves wherever the float graph does.
 */
export function quantizeInt8(model: OnnxModel, ranges: ReadonlyMap<string, TensorRange>): OnnxModel {
  const plan = planQdq(model);
  const initializers = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const used = new Set<string>();
  const out: OnnxTensor[] = [];
  const nodes: OnnxNode[] = [];
  const params = new Map<string, ActivationQuantization>();

  const paramsOf = (tensor: string): ActivationQuantization => {
    const source = plan.quantized.get(tensor)!;
    let p = params.get(source);
    if (!p) {
      const range = ranges.get(source);
      if (!range) throw new RangeError(`no calibration range for tensor ${source}`);
      p = activationQuantization(range);
      params.set(source, p);
      out.push({ name: `${source}:scale`, dims: [], data: Float32Array.of(p.scale) });
      out.push({ name: `${source}:zero_point`, dims: [], type: 'uint8', data: Uint8Array.of(p.zeroPoint) });
    }
    return p;
  };
  /** tensor → Q → DQ; consumers read `${tensor}:dq`. */
  const addQdq = (tensor: string) => {
    paramsOf(tensor);
    const source = plan.quantized.get(tensor)!;
    const qParams = [`${source}:scale`, `${source}:zero_point`];
    nodes.push({ name: `${tensor}/QuantizeLinear`, opType: 'QuantizeLinear', inputs: [tensor, ...qParams], outputs: [`${tensor}:q`], attributes: [] });
    nodes.push({ name: `${tensor}/DequantizeLinear`, opType: 'DequantizeLinear', inputs: [`${tensor}:q`, ...qParams], outputs: [`${tensor}:dq`], attributes: [] });
  };
  const dequantized = (tensor: string) => (plan.quantized.has(tensor) ? `${tensor}:dq` : tensor);

  if (plan.quantized.has(plan.input)) addQdq(plan.input);
  for (const node of plan.nodes) {
    const inputs = [dequantized(node.inputs[0]!), ...node.inputs.slice(1)];
    let attributes: OnnxAttribute[] = node.attributes;
    if (isWeighted(node, initializers)) {
      const x = paramsOf(node.inputs[0]!);
      const weight = initializers.get(node.inputs[1]!)!;
      if (weight.type !== undefined && weight.type !== 'float') throw new UnsupportedGraphError(`${node.name}: weights are ${weight.type}, not float`);
      const axis = WEIGHT_CHANNEL_AXIS[node.opType]!;
      if (node.opType === 'Gemm' && node.attributes.some((a) => (a.name === 'transA' || a.name === 'transB') && a.value !== 0)) {
        throw new UnsupportedGraphError(`${node.name}: transposed Gemm operands are not quantized`);
      }
      const w = quantizeWeightsPerChannel(weight.data, weight.dims, axis);
      const channels = w.scales.length;
      out.push({ name: `${weight.name}:int8`, dims: weight.dims, type: 'int8', data: w.data });
      out.push({ name: `${weight.name}:scale`, dims: [channels], data: w.scales });
      out.push({ name: `${weight.name}:zero_point`, dims: [channels], type: 'int8', data: new Int8Array(channels) });
      nodes.push({
        name: `${weight.name}/DequantizeLinear`,
        opType: 'DequantizeLinear',
        inputs: [`${weight.name}:int8`, `${weight.name}:scale`, `${weight.name}:zero_point`],
        outputs: [`${weight.name}:dq`],
        attributes: [{ name: 'axis', kind: 'int', value: axis }],
      });
      used.add(weight.name);
      inputs[1] = `${weight.name}:dq`;
      const bias = node.inputs[2] ? initializers.get(node.inputs[2]) : undefined;
      if (bias) {
        if (bias.type !== undefined && bias.type !== 'float') throw new UnsupportedGraphError(`${node.name}: bias is ${bias.type}, not float`);
        const scales = Float32Array.from(w.scales, (s) => x.scale * s);
        const data = Int32Array.from(bias.data, (b, c) => clamp(Math.round(b / scales[c]!), INT32_MIN, INT32_MAX));
        out.push({ name: `${bias.name}:int32`, dims: bias.dims, type: 'int32', data });
        out.push({ name: `${bias.name}:scale`, dims: [channels], data: scales });
        nodes.push({
          name: `${bias.name}/DequantizeLinear`,
          opType: 'DequantizeLinear',
          inputs: [`${bias.name}:int32`, `${bias.name}:scale`],
          outputs: [`${bias.name}:dq`],
          attributes: [{ name: 'axis', kind: 'int', value: 0 }],
        });
        used.add(bias.name);
        inputs[2] = `${bias.name}:dq`;
      }
      // ORT's QDQ Gemm rule reads beta; the exporter leaves Gemm's attributes at their defaults.
      if (node.opType === 'Gemm') {
        const set = new Set(node.attributes.map((a) => a.name));
        attributes = [
          ...node.attributes,
          ...(['alpha', 'beta'] as const).filter((n) => !set.has(n)).map((name): OnnxAttribute => ({ name, kind: 'float', value: 1 })),
        ];
      }
    }
    nodes.push({ ...node, inputs, attributes });
    if (plan.quantized.has(node.outputs[0]!)) addQdq(node.outputs[0]!);
  }
  return {
    ...model,
    metadata: { ...model.metadata, 'digitq.variant': 'int8' },
    graph: {
      ...model.graph,
      nodes,
      initializers: [...model.graph.initializers.filter((t) => !used.has(t.name)), ...out],
    },
  };
}
