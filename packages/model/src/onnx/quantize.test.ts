/**
 * The int8 quantizer and the float16 converter on small graphs: per-channel
 * weight scales, activation parameters, the QDQ graph's shape, and that ONNX
 * Runtime's optimizer turns it into integer kernels. (The production model's
 * accuracy as a variant is variants.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MNIST_PIXELS } from '@digitq/datasets';
import { buildModel } from '../architecture.ts';
import { initBackend } from '../backend/select-backend.ts';
import { predictedDigit } from '../engines/classify.ts';
import { OnnxEngine } from '../engines/onnx-engine.ts';
import { calibrateRanges } from './calibrate.ts';
import { layersModelToOnnx } from './export.ts';
import { float16Model, fromFloat16Bits, toFloat16Bits } from './float16.ts';
import { decodeOnnxModel, encodeOnnxModel, type OnnxModel, type OnnxTensor } from './onnx-proto.ts';
import { INT8_WEIGHT_MAX, UnsupportedGraphError, activationQuantization, calibrationTensors, quantizeInt8, quantizeWeightsPerChannel } from './quantize.ts';
import { optimizedOperators } from './variants.ts';

/** Deterministic sparse strokes in [0,1], roughly what preprocessed digits look like. */
function strokes(count: number, seed: number): Float32Array {
  const out = new Float32Array(count * MNIST_PIXELS);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    out[i] = u < 0.8 ? 0 : (u - 0.8) * 5;
  }
  return out;
}

function initializer(model: OnnxModel, name: string): OnnxTensor {
  const t = model.graph.initializers.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}

let tiny: OnnxModel;

beforeAll(async () => {
  await initBackend('wasm');
  const model = buildModel('tiny', 7);
  tiny = layersModelToOnnx(model);
  model.dispose();
});

describe('quantizeWeightsPerChannel', () => {
  it('gives each output channel its own symmetric scale, max |w| / 127, and rounds within half a step', () => {
    // Conv weights [out=2, in=1, 1, 3]: channel 0 small, channel 1 large.
    const weights = Float32Array.of(0.01, -0.02, 0.005, 1.5, -3, 0.7);
    const { data, scales } = quantizeWeightsPerChannel(weights, [2, 1, 1, 3], 0);
    expect(Array.from(scales)).toEqual([Math.fround(0.02 / INT8_WEIGHT_MAX), Math.fround(3 / INT8_WEIGHT_MAX)]);
    expect(data[1]).toBe(-INT8_WEIGHT_MAX);
    expect(data[4]).toBe(-INT8_WEIGHT_MAX);
    weights.forEach((w, i) => expect(Math.abs(data[i]! * scales[Math.floor(i / 3)]! - w)).toBeLessThanOrEqual(scales[Math.floor(i / 3)]! / 2 + 1e-9));
  });

  it('takes the channel from axis 1 for Gemm weights [in, out], and scale 1 for a channel of zeros', () => {
    const weights = Float32Array.of(0.5, 0, -2, 0.25, 0, 1);
    const { data, scales } = quantizeWeightsPerChannel(weights, [2, 3], 1);
    expect(Array.from(scales)).toEqual([Math.fround(0.5 / 127), 1, Math.fround(2 / 127)]);
    expect(Array.from(data)).toEqual([127, 0, -127, 64, 0, 64]);
  });
});

describe('activationQuantization', () => {
  it('maps a ReLU range onto uint8 with zero point 0', () => {
    expect(activationQuantization({ min: 0, max: 2.55 })).toEqual({ scale: Math.fround(0.01), zeroPoint: 0 });
  });

  it('widens a range to include 0 and places the zero point on it', () => {
    const { scale, zeroPoint } = activationQuantization({ min: -1, max: 3 });
    expect(scale).toBe(Math.fround(4 / 255));
    expect(zeroPoint).toBe(64);
    expect(activationQuantization({ min: 1, max: 2 }).zeroPoint).toBe(0);
  });
});

describe('quantizeInt8', () => {
  it('puts Q/DQ on the activations from the first Conv input to the Gemm input, int8 per-channel weights and int32 biases', () => {
    const tensors = calibrationTensors(tiny);
    // The Conv input (after the input transpose) and each conv block's ReLU output; the pools and the flatten inherit.
    expect(tensors).toEqual(['input:transpose', 'activation_Activation1:relu', 'activation_Activation2:relu']);
    const ranges = new Map(tensors.map((t, i) => [t, { min: 0, max: i + 1 }]));
    const q = quantizeInt8(tiny, ranges);
    expect(q.graph.nodes.map((n) => n.opType)).toEqual([
      'Transpose', 'QuantizeLinear', 'DequantizeLinear',
      'DequantizeLinear', 'DequantizeLinear', 'Conv', 'Relu', 'QuantizeLinear', 'DequantizeLinear',
      'MaxPool', 'QuantizeLinear', 'DequantizeLinear',
      'DequantizeLinear', 'DequantizeLinear', 'Conv', 'Relu', 'QuantizeLinear', 'DequantizeLinear',
      'MaxPool', 'QuantizeLinear', 'DequantizeLinear',
      'Flatten', 'QuantizeLinear', 'DequantizeLinear',
      'DequantizeLinear', 'DequantizeLinear', 'Gemm', 'Softmax',
    ]); // prettier-ignore
    expect(q.graph.inputs).toEqual(tiny.graph.inputs);
    expect(q.graph.outputs).toEqual(tiny.graph.outputs);

    const conv = tiny.graph.nodes.find((n) => n.opType === 'Conv')!;
    const [, weightName, biasName] = conv.inputs as [string, string, string];
    const w = initializer(q, `${weightName}:int8`);
    expect(w).toMatchObject({ type: 'int8', dims: [8, 1, 3, 3] });
    expect(initializer(q, `${weightName}:scale`).dims).toEqual([8]);
    expect(q.graph.nodes.find((n) => n.inputs[0] === `${weightName}:int8`)!.attributes).toEqual([{ name: 'axis', kind: 'int', value: 0 }]);
    // Bias scale = input scale (range [0,1] → 1/255) × each channel's weight scale.
    const inputScale = Math.fround(1 / 255);
    const weightScales = initializer(q, `${weightName}:scale`).data;
    expect(Array.from(initializer(q, `${biasName}:scale`).data)).toEqual(Array.from(weightScales, (s) => Math.fround(inputScale * s)));
    expect(initializer(q, `${biasName}:int32`).type).toBe('int32');
    // The float weights are gone; the Gemm's are int8 per column (axis 1).
    expect(q.graph.initializers.some((t) => t.name === weightName)).toBe(false);
    const gemm = tiny.graph.nodes.find((n) => n.opType === 'Gemm')!;
    expect(initializer(q, `${gemm.inputs[1]}:scale`).dims).toEqual([10]);
    // Round trip through the file format.
    expect(decodeOnnxModel(encodeOnnxModel(q))).toEqual(q);
  });

  it('calibrated on sample images, runs on ONNX Runtime integer kernels and answers close to the float graph', async () => {
    const ranges = await calibrateRanges(tiny, calibrationTensors(tiny), strokes(200, 11));
    for (const range of ranges.values()) expect(range.max).toBeGreaterThan(range.min);
    const int8 = encodeOnnxModel(quantizeInt8(tiny, ranges));
    const operators = await optimizedOperators(int8);
    expect(operators.filter((op) => op.endsWith('QLinearConv'))).toHaveLength(2);
    expect(operators).toContain('com.microsoft.QGemm');
    expect(operators.filter((op) => /(^|\.)(Conv|Gemm|MatMul)$/.test(op))).toEqual([]);

    const [floatEngine, intEngine] = await Promise.all([OnnxEngine.load(encodeOnnxModel(tiny)), OnnxEngine.load(int8)]);
    try {
      const images = strokes(64, 99);
      const [a, b] = [await floatEngine.predict(images), await intEngine.predict(images)];
      const agree = Array.from({ length: 64 }, (_, i) => predictedDigit(a, i) === predictedDigit(b, i)).filter(Boolean).length;
      expect(agree).toBeGreaterThanOrEqual(60);
      expect(Math.max(...a.map((p, i) => Math.abs(p - b[i]!)))).toBeLessThan(0.1);
    } finally {
      await Promise.all([floatEngine.dispose(), intEngine.dispose()]);
    }
  });

  it('refuses graphs it cannot quantize faithfully', () => {
    const noWeights: OnnxModel = { ...tiny, graph: { ...tiny.graph, nodes: tiny.graph.nodes.filter((n) => n.opType !== 'Conv' && n.opType !== 'Gemm') } };
    expect(() => calibrationTensors(noWeights)).toThrow(UnsupportedGraphError);
    expect(() => quantizeInt8(tiny, new Map())).toThrow(/no calibration range/);
  });
});

describe('float16', () => {
  it('converts to IEEE half precision, rounding to nearest even, with overflow, subnormals and NaN', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(0.1)).toBe(0x2e66);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(2 ** -26)).toBe(0);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even mantissa.
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
    // Every finite half (both zeros included) survives a round trip through float32.
    const changed: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) if ((bits & 0x7c00) !== 0x7c00 && toFloat16Bits(fromFloat16Bits(bits)) !== bits) changed.push(bits);
    expect(changed).toEqual([]);
  });

  it("'weights' stores every float constant as float16 and casts it back where the graph starts; 'compute' casts at the input and output", () => {
    const floats = tiny.graph.initializers.length;
    const w = float16Model(tiny, 'weights');
    expect(w.graph.initializers.every((t) => t.type === 'float16')).toBe(true);
    expect(w.graph.nodes.slice(0, floats).every((n) => n.opType === 'Cast')).toBe(true);
    expect(w.graph.nodes.slice(floats)).toEqual(tiny.graph.nodes);
    const c = float16Model(tiny, 'compute');
    expect([c.graph.nodes[0]!.opType, c.graph.nodes.at(-1)!.opType]).toEqual(['Cast', 'Cast']);
    expect(c.graph.nodes.at(-1)!.outputs).toEqual(['probabilities']);
  });
});
