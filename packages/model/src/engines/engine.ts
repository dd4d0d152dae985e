/**
 * Inference engines: what serving needs of a model, whatever runs it. A
 * batch goes in as one Float32Array of N×784 values (N preprocessed 28×28×1
 * images in [0,1], white on black, image after image) and comes out as one
 * Float32Array of N×10 softmax probabilities, so neither side copies per image.
 *
 * Two implementations: OnnxEngine (ONNX Runtime, model.onnx) and TfjsEngine
 * (TensorFlow.js, model.json + weights.bin); createEngine picks one.
 */
import { MNIST_PIXELS } from '@digitq/datasets';

export const ENGINE_KINDS = ['auto', 'onnx', 'tfjs'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export const ENGINE_DEVICES = ['cpu', 'gpu'] as const;
export type EngineDevice = (typeof ENGINE_DEVICES)[number];

export interface EngineDescription {
  engine: 'onnxruntime' | 'tfjs';
  /** Threads one predict() call may use. */
  threads: number;
  device: EngineDevice;
  /** What runs underneath: 'cpu' / 'cuda' (ONNX Runtime execution provider), or the tfjs backend label (wasm-simd, tfjs-node, ...). */
  backend: string;
  /** Set when `auto` wanted ONNX Runtime and took tfjs instead: why. */
  fallbackReason?: string;
}

export interface InferenceEngine {
  /** Probabilities for a batch: `batch` holds N×784 floats, the answer N×10 (image i at [10i, 10i+10)). */
  predict(batch: Float32Array): Promise<Float32Array>;
  describe(): EngineDescription;
  /** Frees the model (native or tfjs memory); the engine is unusable afterwards. */
  dispose(): Promise<void>;
}

/** The engine or device asked for cannot run here (missing package, provider or file). */
export class EngineUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineUnavailableError';
  }
}

/** Images in a batch of N×784 values; throws when the length is not a whole number of images. */
export function imagesInBatch(batch: Float32Array): number {
  if (batch.length % MNIST_PIXELS !== 0) throw new RangeError(`a batch holds N×${MNIST_PIXELS} values, got ${batch.length}`);
  return batch.length / MNIST_PIXELS;
}
