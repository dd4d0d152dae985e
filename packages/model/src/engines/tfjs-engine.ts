/**
 * TensorFlow.js serving a model folder's model.json + weights.bin on whatever
 * backend the entrypoint chose (initBackend): the engine every machine can
 * run, and the fallback when ONNX Runtime cannot.
 */
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { MNIST_SIDE } from '@digitq/datasets';
import { loadModelFolder } from '../storage/model-folder.ts';
import { imagesInBatch, type EngineDescription, type InferenceEngine } from './engine.ts';

export interface TfjsEngineOptions {
  /** The label initBackend returned (wasm-simd, tfjs-node, tfjs-node-gpu, cpu), for describe(); default: tfjs's backend name. */
  backendLabel?: string;
}

const GPU_BACKEND_LABEL = 'tfjs-node-gpu';

export class TfjsEngine implements InferenceEngine {
  private constructor(
    private readonly model: tf.LayersModel,
    private readonly backendLabel: string | undefined,
  ) {}

  /** Loads a model folder (every file checked against the sha256 sums in its metadata). */
  static async load(dir: string, options: TfjsEngineOptions = {}): Promise<TfjsEngine> {
    const { model } = await loadModelFolder(dir);
    return new TfjsEngine(model, options.backendLabel);
  }

  /** Serves a model already in memory (e.g. one just trained); dispose() disposes it. */
  static fromModel(model: tf.LayersModel, options: TfjsEngineOptions = {}): TfjsEngine {
    return new TfjsEngine(model, options.backendLabel);
  }

  async predict(batch: Float32Array): Promise<Float32Array> {
    const n = imagesInBatch(batch);
    if (n === 0) return new Float32Array(0);
    const probs = tf.tidy(() => this.model.predict(tf.tensor4d(batch, [n, MNIST_SIDE, MNIST_SIDE, 1])) as tf.Tensor2D);
    try {
      return (await probs.data()) as Float32Array;
    } finally {
      probs.dispose();
    }
  }

  describe(): EngineDescription {
    const backend = this.backendLabel ?? tf.getBackend();
    return {
      engine: 'tfjs',
      // wasm under Node runs one thread; native TensorFlow uses every core.
      threads: tf.getBackend() === 'tensorflow' ? availableParallelism() : 1,
      device: backend === GPU_BACKEND_LABEL ? 'gpu' : 'cpu',
      backend,
    };
  }

  async dispose(): Promise<void> {
    this.model.dispose();
  }
}
