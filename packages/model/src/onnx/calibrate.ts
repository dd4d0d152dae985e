/**
 * Calibration for static quantization: the float graph, with the tensors to
 * quantize exposed as extra graph outputs, runs on ONNX Runtime over sample
 * images, and each tensor's smallest and largest value is kept (min/max
 * calibration: every value seen is representable, none is clipped).
 */
import type * as Ort from 'onnxruntime-node';
import { MNIST_PIXELS, MNIST_SIDE } from '@digitq/datasets';
import { EngineUnavailableError } from '../engines/engine.ts';
import { encodeOnnxModel, type OnnxModel } from './onnx-proto.ts';
import type { TensorRange } from './quantize.ts';

/** Images per ORT run while calibrating: large enough to amortise a run, small enough to keep intermediate outputs in a few MB. */
export const CALIBRATION_BATCH = 100;

/** Ops whose output has the rank of their first input. */
const RANK_KEEPING_OPS = new Set(['Transpose', 'Conv', 'Relu', 'MaxPool', 'BatchNormalization', 'Sigmoid', 'Tanh', 'Softmax', 'QuantizeLinear', 'DequantizeLinear']);
/** Ops whose output is [N, features]. */
const FLATTENING_OPS = new Set(['Flatten', 'Gemm']);

type OrtModule = typeof Ort;

async function importOrt(): Promise<OrtModule> {
  try {
    const module = await import('onnxruntime-node');
    return (module.default ?? module) as OrtModule;
  } catch (cause) {
    throw new EngineUnavailableError(`onnxruntime-node could not be loaded: ${(cause as Error).message}`, { cause });
  }
}

/** The rank of every tensor in a graph of the ops above (a graph output must declare one). */
function tensorRanks(model: OnnxModel): Map<string, number> {
  const ranks = new Map(model.graph.inputs.map((v) => [v.name, v.dims.length]));
  for (const node of model.graph.nodes) {
    const inputRank = ranks.get(node.inputs[0]!);
    let rank: number | undefined;
    if (RANK_KEEPING_OPS.has(node.opType)) rank = inputRank;
    else if (FLATTENING_OPS.has(node.opType)) rank = 2;
    if (rank === undefined) throw new Error(`cannot calibrate through ${node.opType} (node ${node.name})`);
    for (const output of node.outputs) ranks.set(output, rank);
  }
  return ranks;
}

/** The float graph with `tensors` as extra outputs (symbolic dimensions, since only their values are read). */
function withOutputs(model: OnnxModel, tensors: readonly string[]): OnnxModel {
  const ranks = tensorRanks(model);
  const existing = new Set(model.graph.outputs.map((o) => o.name));
  const extra = tensors
    .filter((t) => !existing.has(t))
    .map((name) => {
      const rank = ranks.get(name);
      if (rank === undefined) throw new RangeError(`tensor ${name} is not produced by the graph`);
      return { name, dims: Array.from({ length: rank }, (_, axis) => `${name}#${axis}`) };
    });
  return { ...model, graph: { ...model.graph, outputs: [...model.graph.outputs, ...extra] } };
}

/**
 * The min/max of each of `tensors` over `images` (N×784 floats in [0,1],
 * image after image, as the engines take them). The graph input's range is
 * the images' own.
 */
export async function calibrateRanges(model: OnnxModel, tensors: readonly string[], images: Float32Array): Promise<Map<string, TensorRange>> {
  const count = images.length / MNIST_PIXELS;
  if (!Number.isInteger(count) || count === 0) throw new RangeError(`calibration needs N×${MNIST_PIXELS} values, got ${images.length}`);
  const ort = await importOrt();
  const inputName = model.graph.inputs[0]!.name;
  const fetched = tensors.filter((t) => t !== inputName);
  // No graph optimization: the ranges are those of the float graph as written, not of fused kernels.
  const session = await ort.InferenceSession.create(encodeOnnxModel(withOutputs(model, fetched)), {
    graphOptimizationLevel: 'disabled',
    executionProviders: ['cpu'],
  });
  const ranges = new Map<string, TensorRange>(tensors.map((t) => [t, { min: Infinity, max: -Infinity }]));
  const widen = (name: string, values: ArrayLike<number>) => {
    const range = ranges.get(name)!;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v < range.min) range.min = v;
      if (v > range.max) range.max = v;
    }
  };
  try {
    for (let start = 0; start < count; start += CALIBRATION_BATCH) {
      const n = Math.min(CALIBRATION_BATCH, count - start);
      const batch = images.subarray(start * MNIST_PIXELS, (start + n) * MNIST_PIXELS);
      if (ranges.has(inputName)) widen(inputName, batch);
      if (fetched.length === 0) continue;
      const outputs = await session.run({ [inputName]: new ort.Tensor('float32', batch, [n, MNIST_SIDE, MNIST_SIDE, 1]) }, fetched);
      for (const name of fetched) widen(name, outputs[name]!.data as Float32Array);
    }
  } finally {
    await session.release();
  }
  return ranges;
}
