/**
 * The Keras models digitq imports and exports: Sequential CNNs of the layers
 * its own models use, read from a Keras model config (legacy H5
 * `model_config`, Keras 3 `config.json`, or tfjs's model.json topology, which
 * is the same format) into one checked description, KerasModelSpec. Import
 * builds the tfjs model from it; export writes the Keras config from it, so
 * whatever is exported can be imported back.
 *
 * Anything outside that set is refused with a message naming the layer and
 * the option, rather than imported as something that computes differently.
 * The activations are the ones the ONNX exporter maps too, since every model
 * version gets a model.onnx.
 */
import * as tf from '@tensorflow/tfjs';
import { DIGIT_CLASSES } from '@digitq/datasets';
import { INPUT_SHAPE } from '../architecture.ts';
import type { StoredTensor } from './hdf5.ts';

export class UnsupportedKerasModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedKerasModelError';
  }
}

export const KERAS_ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const;
export type KerasActivation = (typeof KERAS_ACTIVATIONS)[number];
const PADDINGS = ['valid', 'same'] as const;
type Padding = (typeof PADDINGS)[number];
type Pair = [number, number];

/** Keras class names accepted, as the refusal message lists them. */
export const SUPPORTED_KERAS_LAYERS = ['InputLayer', 'Conv2D', 'MaxPooling2D', 'BatchNormalization', 'Activation', 'ReLU', 'Softmax', 'Flatten', 'Dropout', 'Dense'] as const;

interface LayerBase {
  name: string;
  /** The Keras class it was read from (ReLU and Softmax layers become Activation). */
  kerasClass: string;
}

export type KerasLayerSpec = LayerBase &
  (
    | { kind: 'Conv2D'; filters: number; kernelSize: Pair; strides: Pair; padding: Padding; dilationRate: Pair; activation: KerasActivation; useBias: boolean }
    | { kind: 'MaxPooling2D'; poolSize: Pair; strides: Pair; padding: Padding }
    | { kind: 'BatchNormalization'; epsilon: number; momentum: number; center: boolean; scale: boolean }
    | { kind: 'Activation'; activation: KerasActivation }
    | { kind: 'Flatten' }
    | { kind: 'Dropout'; rate: number }
    | { kind: 'Dense'; units: number; activation: KerasActivation; useBias: boolean }
  );

export interface KerasModelSpec {
  name: string;
  /** Per image, without the batch dimension: always [28, 28, 1]. */
  inputShape: number[];
  layers: KerasLayerSpec[];
  /** Whether the last activation is softmax, or linear (logits, e.g. trained with from_logits=True). */
  output: 'probabilities' | 'logits';
}

/** Weights per layer name, then per Keras weight name (kernel, bias, gamma, beta, moving_mean, moving_variance). */
export type KerasWeights = Map<string, Map<string, StoredTensor>>;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads one layer's options, refusing with the layer and option named. */
class LayerReader {
  constructor(
    readonly name: string,
    readonly className: string,
    private readonly config: Json,
  ) {}

  refuse(option: string, value: unknown, supported: string): never {
    throw new UnsupportedKerasModelError(`layer ${JSON.stringify(this.name)} (${this.className}): ${option} ${JSON.stringify(value)} is not supported (${supported})`);
  }

  value(option: string): unknown {
    return this.config[option];
  }

  number(option: string, fallback?: number): number {
    const value = this.config[option] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value)) this.refuse(option, value, 'a number');
    return value;
  }

  positiveInt(option: string): number {
    const value = this.number(option);
    if (!Number.isInteger(value) || value < 1) this.refuse(option, value, 'a positive integer');
    return value;
  }

  boolean(option: string, fallback: boolean): boolean {
    const value = this.config[option] ?? fallback;
    if (typeof value !== 'boolean') this.refuse(option, value, 'true or false');
    return value;
  }

  /** An int or a pair of ints (Keras writes pairs; an int means both). */
  pair(option: string, fallback?: Pair): Pair {
    const value = this.config[option] ?? fallback;
    const pair = typeof value === 'number' ? [value, value] : value;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= 1)) this.refuse(option, value, 'two positive integers');
    return [pair[0], pair[1]] as Pair;
  }

  padding(): Padding {
    const value = this.config.padding ?? 'valid';
    if (!PADDINGS.includes(value as Padding)) this.refuse('padding', value, PADDINGS.join(', '));
    return value as Padding;
  }

  activation(option = 'activation'): KerasActivation {
    const value = this.config[option] ?? 'linear';
    if (!KERAS_ACTIVATIONS.includes(value as KerasActivation)) this.refuse(option, value, KERAS_ACTIVATIONS.join(', '));
    return value as KerasActivation;
  }

  /** channels_last (NHWC, what tfjs computes); Keras 3 may write null for "the default", which is channels_last. */
  channelsLast(): void {
    const value = this.config.data_format;
    if (value != null && value !== 'channels_last') this.refuse('data_format', value, 'channels_last');
  }

  /** An option that only matters to training, or that must keep its neutral value. */
  absent(option: string, neutral: unknown[]): void {
    const value = this.config[option];
    if (value !== undefined && !neutral.some((n) => JSON.stringify(n) === JSON.stringify(value))) this.refuse(option, value, neutral.map((n) => JSON.stringify(n)).join(' or '));
  }
}

/** The batch shape a layer's config declares for the model's input, if any (Keras 2 and tfjs: batch_input_shape; Keras 3: batch_shape, build_config). */
function declaredBatchShape(entry: Json, config: Json): unknown {
  return config.batch_shape ?? config.batch_input_shape ?? (isObject(entry.build_config) ? entry.build_config.input_shape : undefined);
}

function parseLayer(reader: LayerReader): KerasLayerSpec {
  const base = { name: reader.name, kerasClass: reader.className };
  switch (reader.className) {
    case 'Conv2D': {
      reader.channelsLast();
      reader.absent('groups', [1]);
      const strides = reader.pair('strides', [1, 1]);
      const dilationRate = reader.pair('dilation_rate', [1, 1]);
      if (Math.max(...strides) > 1 && Math.max(...dilationRate) > 1) reader.refuse('strides with dilation_rate', { strides, dilation_rate: dilationRate }, 'strides or dilation, not both');
      return {
        ...base,
        kind: 'Conv2D',
        filters: reader.positiveInt('filters'),
        kernelSize: reader.pair('kernel_size'),
        strides,
        padding: reader.padding(),
        dilationRate,
        activation: reader.activation(),
        useBias: reader.boolean('use_bias', true),
      };
    }
    case 'MaxPooling2D': {
      reader.channelsLast();
      const poolSize = reader.pair('pool_size', [2, 2]);
      return { ...base, kind: 'MaxPooling2D', poolSize, strides: reader.value('strides') == null ? poolSize : reader.pair('strides'), padding: reader.padding() };
    }
    case 'BatchNormalization':
      // Over the channels: -1, or the last axis counted with the batch (3 after a conv, 1 after a dense layer; checked against the shape later).
      reader.absent('renorm', [false]);
      return {
        ...base,
        kind: 'BatchNormalization',
        epsilon: reader.number('epsilon', 1e-3),
        momentum: reader.number('momentum', 0.99),
        center: reader.boolean('center', true),
        scale: reader.boolean('scale', true),
      };
    case 'Activation':
      return { ...base, kind: 'Activation', activation: reader.activation() };
    case 'ReLU':
      reader.absent('max_value', [null]);
      reader.absent('negative_slope', [0]);
      reader.absent('threshold', [0]);
      return { ...base, kind: 'Activation', activation: 'relu' };
    case 'Softmax':
      reader.absent('axis', [-1, [-1]]);
      return { ...base, kind: 'Activation', activation: 'softmax' };
    case 'Flatten':
      reader.channelsLast();
      return { ...base, kind: 'Flatten' };
    case 'Dropout': {
      reader.absent('noise_shape', [null]);
      const rate = reader.number('rate');
      if (rate < 0 || rate >= 1) reader.refuse('rate', rate, 'a rate in [0, 1)');
      return { ...base, kind: 'Dropout', rate };
    }
    case 'Dense':
      return { ...base, kind: 'Dense', units: reader.positiveInt('units'), activation: reader.activation(), useBias: reader.boolean('use_bias', true) };
    default:
      throw new UnsupportedKerasModelError(
        `layer ${JSON.stringify(reader.name)} (${reader.className}) is not supported: digitq imports Sequential CNNs of ${SUPPORTED_KERAS_LAYERS.filter((c) => c !== 'InputLayer').join(', ')} layers`,
      );
  }
}

/** Output size of a convolution or pooling window along one axis, as TensorFlow computes it. */
function windowOutput(size: number, kernel: number, stride: number, dilation: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - ((kernel - 1) * dilation + 1)) / stride) + 1;
}

function shapeText(shape: readonly number[]): string {
  return shape.join('x');
}

/**
 * Each layer's input shape (per image), checking that every layer gets the
 * rank it works on and that the model ends in one value per digit.
 */
export function layerInputShapes(spec: Pick<KerasModelSpec, 'inputShape' | 'layers'>, batchNormAxes?: Map<string, unknown>): number[][] {
  const shapes: number[][] = [];
  let shape = spec.inputShape;
  for (const layer of spec.layers) {
    shapes.push(shape);
    const where = `layer ${JSON.stringify(layer.name)} (${layer.kerasClass})`;
    const spatial = (): [number, number, number] => {
      if (shape.length !== 3) throw new UnsupportedKerasModelError(`${where} needs a height x width x channels input, gets ${shapeText(shape)}`);
      return shape as [number, number, number];
    };
    switch (layer.kind) {
      case 'Conv2D':
      case 'MaxPooling2D': {
        const [h, w, c] = spatial();
        const kernel = layer.kind === 'Conv2D' ? layer.kernelSize : layer.poolSize;
        const dilation: Pair = layer.kind === 'Conv2D' ? layer.dilationRate : [1, 1];
        const out = [0, 1].map((axis) => windowOutput([h, w][axis]!, kernel[axis]!, layer.strides[axis]!, dilation[axis]!, layer.padding));
        if (out.some((n) => n < 1)) throw new UnsupportedKerasModelError(`${where}: a ${shapeText(kernel)} window does not fit its ${shapeText(shape)} input`);
        shape = [out[0]!, out[1]!, layer.kind === 'Conv2D' ? layer.filters : c];
        break;
      }
      case 'BatchNormalization': {
        const axis = batchNormAxes?.get(layer.name);
        const last = shape.length;
        const ok = axis === undefined || [-1, last].some((a) => JSON.stringify(axis) === JSON.stringify(a) || JSON.stringify(axis) === JSON.stringify([a]));
        if (!ok) throw new UnsupportedKerasModelError(`${where}: axis ${JSON.stringify(axis)} is not supported (the channel axis: -1 or ${last})`);
        break;
      }
      case 'Flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'Dense':
        if (shape.length !== 1) throw new UnsupportedKerasModelError(`${where} gets a ${shapeText(shape)} input: put a Flatten before it`);
        shape = [layer.units];
        break;
      case 'Activation':
      case 'Dropout':
        break;
    }
  }
  if (shape.length !== 1 || shape[0] !== DIGIT_CLASSES) {
    throw new UnsupportedKerasModelError(`the model outputs ${shapeText(shape)} values per image; digitq needs ${DIGIT_CLASSES}, one per digit`);
  }
  return shapes;
}

function outputKind(layers: KerasLayerSpec[]): KerasModelSpec['output'] {
  const last = [...layers].reverse().find((layer) => layer.kind !== 'Dropout');
  const activation = last && 'activation' in last ? last.activation : undefined;
  if (activation === 'softmax') return 'probabilities';
  if (activation === 'linear') return 'logits';
  throw new UnsupportedKerasModelError(
    `the model ends in ${last ? `layer ${JSON.stringify(last.name)} (${last.kerasClass})` : 'no layer'}${activation ? ` with activation ${JSON.stringify(activation)}` : ''}; digitq needs a softmax (or linear logits) over the ${DIGIT_CLASSES} digits`,
  );
}

/**
 * A Keras model config ({class_name, config}) as a KerasModelSpec, or an
 * UnsupportedKerasModelError naming what is not supported.
 */
export function parseKerasModelConfig(modelConfig: unknown): KerasModelSpec {
  if (!isObject(modelConfig)) throw new UnsupportedKerasModelError('the model config is not a JSON object');
  const className = modelConfig.class_name;
  if (className !== 'Sequential') {
    throw new UnsupportedKerasModelError(`model class ${JSON.stringify(className)} is not supported: digitq imports keras.Sequential models`);
  }
  const config = modelConfig.config;
  // Keras 2.0-2.1 wrote a Sequential's config as the bare list of layers.
  const layerEntries = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : null;
  if (!layerEntries) throw new UnsupportedKerasModelError('the Sequential config has no list of layers');
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'sequential';

  let batchShape: unknown = isObject(config) ? config.build_input_shape : undefined;
  const layers: KerasLayerSpec[] = [];
  const batchNormAxes = new Map<string, unknown>();
  layerEntries.forEach((entry: unknown, index) => {
    if (!isObject(entry) || typeof entry.class_name !== 'string' || !isObject(entry.config)) {
      throw new UnsupportedKerasModelError(`layer #${index} of the config is not a {class_name, config} object`);
    }
    const layerConfig = entry.config;
    const layerName = typeof layerConfig.name === 'string' ? layerConfig.name : `layer_${index}`;
    const declared = declaredBatchShape(entry, layerConfig);
    if (layers.length === 0 && declared !== undefined) batchShape = declared;
    if (entry.class_name === 'InputLayer') {
      if (index !== 0) throw new UnsupportedKerasModelError(`layer ${JSON.stringify(layerName)} (InputLayer) is not the first layer`);
      return;
    }
    const reader = new LayerReader(layerName, entry.class_name, layerConfig);
    if (entry.class_name === 'BatchNormalization') batchNormAxes.set(layerName, layerConfig.axis ?? -1);
    const layer = parseLayer(reader);
    if (layers.some((l) => l.name === layer.name)) throw new UnsupportedKerasModelError(`two layers are named ${JSON.stringify(layer.name)}`);
    layers.push(layer);
  });

  const inputShape = Array.isArray(batchShape) ? batchShape.slice(1) : null;
  if (!inputShape || JSON.stringify(inputShape) !== JSON.stringify(INPUT_SHAPE)) {
    throw new UnsupportedKerasModelError(
      `the model's input is ${inputShape ? shapeText(inputShape as number[]) : 'not declared'}; digitq feeds ${shapeText(INPUT_SHAPE)} images (28x28 pixels, 1 channel, scaled to [0, 1], white on black)`,
    );
  }
  const spec = { name, inputShape: inputShape as number[], layers };
  layerInputShapes(spec, batchNormAxes);
  return { ...spec, output: outputKind(layers) };
}

/** The weights a layer holds, in Keras's saving order (trainable, then non-trainable). */
export function kerasWeightNames(layer: KerasLayerSpec): string[] {
  switch (layer.kind) {
    case 'Conv2D':
    case 'Dense':
      return layer.useBias ? ['kernel', 'bias'] : ['kernel'];
    case 'BatchNormalization':
      return [...(layer.scale ? ['gamma'] : []), ...(layer.center ? ['beta'] : []), 'moving_mean', 'moving_variance'];
    default:
      return [];
  }
}

/** The shape of each weight of `layer` given its input shape (NHWC: conv kernels [kh, kw, in, out], dense [in, out]). */
export function kerasWeightShapes(layer: KerasLayerSpec, input: number[]): Map<string, number[]> {
  const channels = input.at(-1)!;
  const shapes = new Map<string, number[]>();
  for (const weight of kerasWeightNames(layer)) {
    if (layer.kind === 'Conv2D') shapes.set(weight, weight === 'kernel' ? [...layer.kernelSize, channels, layer.filters] : [layer.filters]);
    else if (layer.kind === 'Dense') shapes.set(weight, weight === 'kernel' ? [channels, layer.units] : [layer.units]);
    else shapes.set(weight, [channels]);
  }
  return shapes;
}

/** The tfjs layer computing what `layer` computes. */
function tfjsLayer(layer: KerasLayerSpec, inputShape: number[] | undefined): tf.layers.Layer {
  const common = { name: layer.name, ...(inputShape ? { inputShape } : {}) };
  switch (layer.kind) {
    case 'Conv2D':
      return tf.layers.conv2d({
        ...common,
        filters: layer.filters,
        kernelSize: layer.kernelSize,
        strides: layer.strides,
        padding: layer.padding,
        dilationRate: layer.dilationRate,
        activation: layer.activation,
        useBias: layer.useBias,
        dataFormat: 'channelsLast',
      });
    case 'MaxPooling2D':
      return tf.layers.maxPooling2d({ ...common, poolSize: layer.poolSize, strides: layer.strides, padding: layer.padding, dataFormat: 'channelsLast' });
    case 'BatchNormalization':
      return tf.layers.batchNormalization({ ...common, axis: -1, epsilon: layer.epsilon, momentum: layer.momentum, center: layer.center, scale: layer.scale });
    case 'Activation':
      return tf.layers.activation({ ...common, activation: layer.activation });
    case 'Flatten':
      return tf.layers.flatten({ ...common, dataFormat: 'channelsLast' });
    case 'Dropout':
      return tf.layers.dropout({ ...common, rate: layer.rate });
    case 'Dense':
      return tf.layers.dense({ ...common, units: layer.units, activation: layer.activation, useBias: layer.useBias });
  }
}

/** The last path component of a weight's name without its ":0" ("sequential/conv2d/kernel:0" → "kernel"). */
export function weightKey(weightName: string): string {
  return weightName.split('/').at(-1)!.replace(/:\d+$/, '');
}

/** A tfjs Sequential model with `spec`'s layers and `weights` (checked against the shapes the layers expect). */
export function buildTfjsModel(spec: Omit<KerasModelSpec, 'output'>, weights: KerasWeights): tf.Sequential {
  const inputs = layerInputShapes(spec);
  for (const [i, layer] of spec.layers.entries()) {
    const expected = kerasWeightShapes(layer, inputs[i]!);
    const stored = weights.get(layer.name) ?? new Map<string, StoredTensor>();
    const where = `layer ${JSON.stringify(layer.name)} (${layer.kerasClass})`;
    const missing = [...expected.keys()].filter((w) => !stored.has(w));
    const extra = [...stored.keys()].filter((w) => !expected.has(w));
    if (missing.length > 0 || extra.length > 0) {
      throw new UnsupportedKerasModelError(`${where}: the file has weights [${[...stored.keys()].join(', ')}], the layer needs [${[...expected.keys()].join(', ')}]`);
    }
    for (const [weight, shape] of expected) {
      const actual = stored.get(weight)!.shape;
      if (JSON.stringify(actual) !== JSON.stringify(shape)) throw new UnsupportedKerasModelError(`${where}: ${weight} has shape [${actual.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
  const model = tf.sequential({ name: spec.name });
  try {
    spec.layers.forEach((layer, i) => model.add(tfjsLayer(layer, i === 0 ? spec.inputShape : undefined)));
    for (const layer of spec.layers) {
      const stored = weights.get(layer.name);
      if (!stored) continue;
      const tfjs = model.getLayer(layer.name);
      tf.tidy(() => tfjs.setWeights(tfjs.weights.map((w) => tf.tensor(stored.get(weightKey(w.originalName))!.values, w.shape as number[]))));
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A tfjs model's weights by layer and Keras weight name (copies). */
export function tfjsModelWeights(model: tf.LayersModel, spec: KerasModelSpec): KerasWeights {
  const weights: KerasWeights = new Map();
  for (const layer of spec.layers) {
    const tfjs = model.getLayer(layer.name);
    if (tfjs.weights.length === 0) continue;
    weights.set(layer.name, new Map(tfjs.weights.map((w) => [weightKey(w.originalName), { shape: [...(w.shape as number[])], values: Float32Array.from(w.read().dataSync() as Float32Array) }])));
  }
  return weights;
}

const KERAS_DTYPE = 'float32';

/**
 * The layer config a legacy H5 file carries (Keras 2's format, which Keras 3
 * reads too): only options both understand; initializers, regularizers and
 * constraints are left to their defaults (they do not change a trained
 * model's outputs).
 */
export function kerasLayerConfig(layer: KerasLayerSpec): { class_name: string; config: Json } {
  const common = { name: layer.name, trainable: true, dtype: KERAS_DTYPE };
  switch (layer.kind) {
    case 'Conv2D':
      return {
        class_name: 'Conv2D',
        config: {
          ...common,
          filters: layer.filters,
          kernel_size: layer.kernelSize,
          strides: layer.strides,
          padding: layer.padding,
          data_format: 'channels_last',
          dilation_rate: layer.dilationRate,
          activation: layer.activation,
          use_bias: layer.useBias,
        },
      };
    case 'MaxPooling2D':
      return { class_name: 'MaxPooling2D', config: { ...common, pool_size: layer.poolSize, strides: layer.strides, padding: layer.padding, data_format: 'channels_last' } };
    case 'BatchNormalization':
      return { class_name: 'BatchNormalization', config: { ...common, axis: -1, momentum: layer.momentum, epsilon: layer.epsilon, center: layer.center, scale: layer.scale } };
    case 'Activation':
      return { class_name: 'Activation', config: { ...common, activation: layer.activation } };
    case 'Flatten':
      return { class_name: 'Flatten', config: { ...common, data_format: 'channels_last' } };
    case 'Dropout':
      return { class_name: 'Dropout', config: { ...common, rate: layer.rate, noise_shape: null, seed: null } };
    case 'Dense':
      return { class_name: 'Dense', config: { ...common, units: layer.units, activation: layer.activation, use_bias: layer.useBias } };
  }
}

/** A legacy H5 `model_config`: Sequential, an InputLayer declaring the input, then the layers. */
export function kerasModelConfig(spec: KerasModelSpec): Json {
  return {
    class_name: 'Sequential',
    config: {
      name: spec.name,
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, ...spec.inputShape], dtype: KERAS_DTYPE, sparse: false, ragged: false, name: `${spec.name}_input` } },
        ...spec.layers.map(kerasLayerConfig),
      ],
    },
  };
}
