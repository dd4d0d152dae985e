/**
 * TensorFlow.js Sequential model → ONNX inference graph, for serving on ONNX
 * Runtime. The graph computes what tfjs's predict() computes, with:
 *
 * - input `input` [N,H,W,C] float32 as tfjs takes it (NHWC), transposed once
 *   to NCHW because ONNX's Conv and MaxPool are channels-first;
 * - batch normalization folded into the preceding convolution or dense
 *   layer (scale = gamma / sqrt(variance + epsilon) multiplies that layer's
 *   output channels; the bias becomes (bias - mean) * scale + beta), and kept
 *   as an ONNX BatchNormalization where nothing precedes it to fold into;
 * - dropout dropped (identity at inference);
 * - Flatten over NCHW, which orders features (c, h, w) where tfjs's NHWC
 *   flatten orders them (h, w, c): the rows of the dense layer after it are
 *   permuted to match, so no transpose back is needed;
 * - output `probabilities` [N,classes], the final Softmax.
 *
 * Layers it does not know make it throw (UnsupportedLayerError) rather than
 * export a graph that would answer differently.
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from './onnx-proto.ts';

/** Opset 13: Softmax over one axis (older opsets flatten to 2-D first), Gemm/Conv/MaxPool as used here. */
export const ONNX_OPSET = 13;
/** IR version 7 is the one that goes with opset 13, so older runtimes read the file too. */
export const ONNX_IR_VERSION = 7;
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'probabilities';
/** Symbolic batch dimension of the input and output. */
export const ONNX_BATCH_DIM = 'N';
const PRODUCER_NAME = 'digitq';
/** Bump when the exporter's output for the same model changes. */
const EXPORTER_VERSION = '1';

/** NHWC → NCHW. */
const TO_CHANNELS_FIRST = [0, 3, 1, 2];

export class UnsupportedLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedLayerError';
  }
}

export interface OnnxExportOptions {
  /** ModelProto.metadata_props (e.g. which model folder this came from). */
  metadata?: Record<string, string>;
  docString?: string;
}

/** What flows between layers: the current value's name and its logical (tfjs) shape without the batch. */
type Shape = { kind: 'spatial'; h: number; w: number; c: number } | { kind: 'flat'; features: number; fromSpatial?: { h: number; w: number; c: number } };

/** A Conv or Gemm whose weights are still editable, so a batch norm after it can fold in. */
interface Affine {
  node: OnnxNode;
  weights: OnnxTensor;
  bias: OnnxTensor;
  /** Index of the output channel of each weight value. */
  channelOf: (index: number) => number;
}

interface LayerConfig {
  [key: string]: unknown;
}

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  current = ONNX_INPUT_NAME;
  /** The affine node whose output is `current`, while nothing else has been applied to it. */
  foldable: Affine | null = null;
  /** The op that produced `current` (to check the graph ends in Softmax). */
  lastOp = '';

  constant(name: string, dims: number[], data: Float32Array): OnnxTensor {
    const tensor = { name, dims, data };
    this.initializers.push(tensor);
    return tensor;
  }

  add(name: string, opType: string, extraInputs: string[] = [], attributes: OnnxAttribute[] = []): OnnxNode {
    const output = `${name}:${opType.toLowerCase()}`;
    const node = { name: `${name}/${opType}`, opType, inputs: [this.current, ...extraInputs], outputs: [output], attributes };
    this.nodes.push(node);
    this.current = output;
    this.foldable = null;
    this.lastOp = opType;
    return node;
  }
}

function pair(value: unknown, what: string): [number, number] {
  const v = Array.isArray(value) ? value : [value, value];
  if (v.length !== 2 || !v.every((x) => Number.isInteger(x))) throw new UnsupportedLayerError(`${what}: expected two integers, got ${JSON.stringify(value)}`);
  return v as [number, number];
}

/** TensorFlow's padding → ONNX pads [top, left, bottom, right] and output size ('same' puts the odd pixel at the end). */
function padding(
  mode: unknown,
  input: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number],
): { pads: number[]; out: [number, number] } {
  const begin: number[] = [];
  const end: number[] = [];
  const out: number[] = [];
  for (let axis = 0; axis < 2; axis++) {
    const size = input[axis]!;
    const extent = (kernel[axis]! - 1) * dilation[axis]! + 1;
    const stride = strides[axis]!;
    if (mode === 'valid') {
      out.push(Math.floor((size - extent) / stride) + 1);
      begin.push(0);
      end.push(0);
    } else if (mode === 'same') {
      const o = Math.ceil(size / stride);
      const total = Math.max((o - 1) * stride + extent - size, 0);
      out.push(o);
      begin.push(Math.floor(total / 2));
      end.push(total - Math.floor(total / 2));
    } else {
      throw new UnsupportedLayerError(`padding ${JSON.stringify(mode)} is not supported (valid, same)`);
    }
  }
  return { pads: [...begin, ...end], out: out as [number, number] };
}

function weightsByName(layer: tf.layers.Layer): Map<string, Float32Array> {
  const values = layer.getWeights();
  return new Map(layer.weights.map((w, i) => [w.originalName.slice(w.originalName.lastIndexOf('/') + 1), values[i]!.dataSync() as Float32Array]));
}

function requireWeight(weights: Map<string, Float32Array>, name: string, layer: tf.layers.Layer): Float32Array {
  const w = weights.get(name);
  if (!w) throw new UnsupportedLayerError(`${layer.name}: no ${name} weight`);
  return w;
}

function activation(g: GraphBuilder, layerName: string, name: unknown, shape: Shape): void {
  switch (name) {
    case 'linear':
    case undefined:
    case null:
      return;
    case 'relu':
      g.add(layerName, 'Relu');
      return;
    case 'sigmoid':
      g.add(layerName, 'Sigmoid');
      return;
    case 'tanh':
      g.add(layerName, 'Tanh');
      return;
    case 'softmax':
      // tfjs's softmax is over the last (channel) axis, which is axis 1 in NCHW.
      g.add(layerName, 'Softmax', [], [{ name: 'axis', kind: 'int', value: shape.kind === 'spatial' ? 1 : -1 }]);
      return;
    default:
      throw new UnsupportedLayerError(`${layerName}: activation ${JSON.stringify(name)} is not supported`);
  }
}

function conv2d(g: GraphBuilder, layer: tf.layers.Layer, config: LayerConfig, shape: Shape): Shape {
  if (shape.kind !== 'spatial') throw new UnsupportedLayerError(`${layer.name}: Conv2D needs a 4-D input`);
  if (config.dataFormat !== 'channelsLast') throw new UnsupportedLayerError(`${layer.name}: only channelsLast is supported`);
  const weights = weightsByName(layer);
  const kernel = requireWeight(weights, 'kernel', layer);
  const [kh, kw] = pair(config.kernelSize, `${layer.name} kernelSize`);
  const strides = pair(config.strides, `${layer.name} strides`);
  const dilation = pair(config.dilationRate, `${layer.name} dilationRate`);
  const cin = shape.c;
  const cout = config.filters as number;
  if (kernel.length !== kh * kw * cin * cout) throw new UnsupportedLayerError(`${layer.name}: kernel has ${kernel.length} values, expected ${kh}x${kw}x${cin}x${cout}`);
  // tfjs [kh, kw, cin, cout] → ONNX [cout, cin, kh, kw].
  const onnxKernel = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) onnxKernel[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o]!;
  const bias = config.useBias ? requireWeight(weights, 'bias', layer) : new Float32Array(cout);
  const { pads, out } = padding(config.padding, [shape.h, shape.w], [kh, kw], strides, dilation);
  const w = g.constant(`${layer.name}/kernel`, [cout, cin, kh, kw], onnxKernel);
  const b = g.constant(`${layer.name}/bias`, [cout], Float32Array.from(bias));
  const node = g.add(layer.name, 'Conv', [w.name, b.name], [
    { name: 'kernel_shape', kind: 'ints', value: [kh, kw] },
    { name: 'strides', kind: 'ints', value: strides },
    { name: 'dilations', kind: 'ints', value: dilation },
    { name: 'pads', kind: 'ints', value: pads },
    { name: 'group', kind: 'int', value: 1 },
  ]);
  const spatial = kh * kw * cin;
  g.foldable = { node, weights: w, bias: b, channelOf: (index) => Math.floor(index / spatial) };
  const next: Shape = { kind: 'spatial', h: out[0], w: out[1], c: cout };
  activation(g, layer.name, config.activation, next);
  return next;
}

function dense(g: GraphBuilder, layer: tf.layers.Layer, config: LayerConfig, shape: Shape): Shape {
  if (shape.kind !== 'flat') throw new UnsupportedLayerError(`${layer.name}: Dense on a 4-D input is not supported (add a Flatten before it)`);
  const weights = weightsByName(layer);
  const kernel = requireWeight(weights, 'kernel', layer);
  const units = config.units as number;
  if (kernel.length !== shape.features * units) throw new UnsupportedLayerError(`${layer.name}: kernel has ${kernel.length} values, expected ${shape.features}x${units}`);
  let rows = kernel;
  if (shape.fromSpatial) {
    // Row (h, w, c) of the tfjs kernel feeds feature (c, h, w) of the NCHW flatten.
    const { h: H, w: W, c: C } = shape.fromSpatial;
    rows = new Float32Array(kernel.length);
    for (let h = 0; h < H; h++)
      for (let w = 0; w < W; w++)
        for (let c = 0; c < C; c++) {
          const from = ((h * W + w) * C + c) * units;
          rows.set(kernel.subarray(from, from + units), ((c * H + h) * W + w) * units);
        }
  }
  const bias = config.useBias ? requireWeight(weights, 'bias', layer) : new Float32Array(units);
  const b = g.constant(`${layer.name}/kernel`, [shape.features, units], rows === kernel ? Float32Array.from(kernel) : rows);
  const c = g.constant(`${layer.name}/bias`, [units], Float32Array.from(bias));
  const node = g.add(layer.name, 'Gemm', [b.name, c.name]);
  g.foldable = { node, weights: b, bias: c, channelOf: (index) => index % units };
  const next: Shape = { kind: 'flat', features: units };
  activation(g, layer.name, config.activation, next);
  return next;
}

function batchNormalization(g: GraphBuilder, layer: tf.layers.Layer, config: LayerConfig, shape: Shape): Shape {
  const channels = shape.kind === 'spatial' ? shape.c : shape.features;
  if (config.axis !== -1 && config.axis !== (shape.kind === 'spatial' ? 3 : 1)) {
    throw new UnsupportedLayerError(`${layer.name}: batch normalization over axis ${JSON.stringify(config.axis)} is not supported (only the channel axis)`);
  }
  const weights = weightsByName(layer);
  const gamma = config.scale ? requireWeight(weights, 'gamma', layer) : new Float32Array(channels).fill(1);
  const beta = config.center ? requireWeight(weights, 'beta', layer) : new Float32Array(channels);
  const mean = requireWeight(weights, 'moving_mean', layer);
  const variance = requireWeight(weights, 'moving_variance', layer);
  const epsilon = config.epsilon as number;
  const target = g.foldable;
  if (!target && shape.kind === 'flat' && shape.fromSpatial) {
    // Its per-feature parameters are in tfjs's (h, w, c) order, the flattened tensor here is (c, h, w).
    throw new UnsupportedLayerError(`${layer.name}: batch normalization right after a Flatten is not supported`);
  }
  if (!target) {
    const names = ['scale', 'bias', 'mean', 'var'].map((n) => `${layer.name}/${n}`);
    [gamma, beta, mean, variance].forEach((data, i) => g.constant(names[i]!, [channels], Float32Array.from(data)));
    g.add(layer.name, 'BatchNormalization', names, [{ name: 'epsilon', kind: 'float', value: epsilon }]);
    return shape;
  }
  // Computed in float64, rounded once when stored.
  const scale = Array.from(gamma, (gm, c) => gm / Math.sqrt(variance[c]! + epsilon));
  const w = target.weights.data;
  for (let i = 0; i < w.length; i++) w[i] = w[i]! * scale[target.channelOf(i)]!;
  const b = target.bias.data;
  for (let c = 0; c < channels; c++) b[c] = (b[c]! - mean[c]!) * scale[c]! + beta[c]!;
  target.node.name += `+${layer.name}`;
  return shape;
}

function pooling(g: GraphBuilder, layer: tf.layers.Layer, config: LayerConfig, shape: Shape, opType: 'MaxPool'): Shape {
  if (shape.kind !== 'spatial') throw new UnsupportedLayerError(`${layer.name}: pooling needs a 4-D input`);
  if (config.dataFormat !== 'channelsLast') throw new UnsupportedLayerError(`${layer.name}: only channelsLast is supported`);
  const kernel = pair(config.poolSize, `${layer.name} poolSize`);
  const strides = pair(config.strides ?? config.poolSize, `${layer.name} strides`);
  const { pads, out } = padding(config.padding, [shape.h, shape.w], kernel, strides, [1, 1]);
  g.add(layer.name, opType, [], [
    { name: 'kernel_shape', kind: 'ints', value: kernel },
    { name: 'strides', kind: 'ints', value: strides },
    { name: 'pads', kind: 'ints', value: pads },
  ]);
  return { kind: 'spatial', h: out[0], w: out[1], c: shape.c };
}

function layerToOnnx(g: GraphBuilder, layer: tf.layers.Layer, shape: Shape): Shape {
  const config = layer.getConfig() as LayerConfig;
  switch (layer.getClassName()) {
    case 'InputLayer':
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      // Identity at inference.
      return shape;
    case 'Conv2D':
      return conv2d(g, layer, config, shape);
    case 'BatchNormalization':
      return batchNormalization(g, layer, config, shape);
    case 'Activation':
      activation(g, layer.name, config.activation, shape);
      return shape;
    case 'ReLU':
      if (config.maxValue != null) throw new UnsupportedLayerError(`${layer.name}: ReLU with maxValue is not supported`);
      g.add(layer.name, 'Relu');
      return shape;
    case 'MaxPooling2D':
      return pooling(g, layer, config, shape, 'MaxPool');
    case 'Flatten':
      if (shape.kind === 'flat') return shape;
      g.add(layer.name, 'Flatten', [], [{ name: 'axis', kind: 'int', value: 1 }]);
      return { kind: 'flat', features: shape.h * shape.w * shape.c, fromSpatial: { h: shape.h, w: shape.w, c: shape.c } };
    case 'Dense':
      return dense(g, layer, config, shape);
    default:
      throw new UnsupportedLayerError(`${layer.name}: layer ${layer.getClassName()} is not supported by the ONNX exporter`);
  }
}

/**
 * The Sequential models an exported graph is made of: the model itself, or
 * the members of an ensemble (ensemble.ts: a functional model averaging
 * Sequential members over one input); null for anything else.
 */
function sequentialMembers(model: tf.LayersModel): tf.Sequential[] | null {
  if (model instanceof tf.Sequential) return [model];
  const members = model.layers.filter((layer): layer is tf.Sequential => layer instanceof tf.Sequential);
  const glue = model.layers.filter((layer) => !(layer instanceof tf.Sequential)).map((layer) => layer.getClassName());
  return members.length >= 2 && glue.every((name) => name === 'InputLayer' || name === 'Average') ? members : null;
}

/**
 * The ONNX graph of a Sequential tfjs model whose input is [N,H,W,C] and
 * whose last layer ends in softmax, or of an ensemble of such models (one
 * shared input, the members' probabilities averaged by a Mean node).
 */
export function layersModelToOnnx(model: tf.LayersModel, options: OnnxExportOptions = {}): OnnxModel {
  const members = sequentialMembers(model);
  if (!members) throw new UnsupportedLayerError('only Sequential models and ensembles of them can be exported');
  const inputShape = model.inputs[0]!.shape;
  if (inputShape.length !== 4 || inputShape.slice(1).some((d) => d == null)) {
    throw new UnsupportedLayerError(`input shape ${JSON.stringify(inputShape)}: expected [batch, height, width, channels]`);
  }
  const [, h, w, c] = inputShape as [null, number, number, number];
  const g = new GraphBuilder();
  g.add(ONNX_INPUT_NAME, 'Transpose', [], [{ name: 'perm', kind: 'ints', value: TO_CHANNELS_FIRST }]);
  const channelsFirst = g.current;
  const outputs: string[] = [];
  let shape: Shape = { kind: 'spatial', h, w, c };
  for (const member of members) {
    g.current = channelsFirst;
    g.foldable = null;
    shape = { kind: 'spatial', h, w, c };
    for (const layer of member.layers) shape = layerToOnnx(g, layer, shape);
    if (g.lastOp !== 'Softmax' || shape.kind !== 'flat') throw new UnsupportedLayerError('the model must end in a softmax over a flat [batch, classes] output');
    outputs.push(g.current);
  }
  if (members.length === 1) {
    // The graph's output keeps the conventional name.
    g.nodes.at(-1)!.outputs = [ONNX_OUTPUT_NAME];
  } else {
    g.nodes.push({ name: 'ensemble/Mean', opType: 'Mean', inputs: outputs, outputs: [ONNX_OUTPUT_NAME], attributes: [] });
  }
  if (shape.kind !== 'flat') throw new UnsupportedLayerError('the model must end in a flat [batch, classes] output');
  return {
    irVersion: ONNX_IR_VERSION,
    opsetVersion: ONNX_OPSET,
    producerName: PRODUCER_NAME,
    producerVersion: EXPORTER_VERSION,
    docString: options.docString ?? '',
    metadata: options.metadata ?? {},
    graph: {
      name: model.name,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: ONNX_INPUT_NAME, dims: [ONNX_BATCH_DIM, h, w, c] }],
      outputs: [{ name: ONNX_OUTPUT_NAME, dims: [ONNX_BATCH_DIM, shape.features] }],
    },
  };
}
