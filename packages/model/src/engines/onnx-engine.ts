/**
 * ONNX Runtime (onnxruntime-node) serving a model folder's model.onnx.
 *
 * onnxruntime-node is imported when an engine is first loaded, not with this
 * module, so a machine where its native library cannot load still serves with
 * tfjs. Its CPU binaries ship in the npm package; the CUDA provider does not
 * (the install skips its download: .npmrc), so device 'gpu' fails loudly
 * unless someone installed it (ONNXRUNTIME_NODE_INSTALL=cuda12 on a CUDA 12 machine).
 */
import type * as Ort from 'onnxruntime-node';
import { DIGIT_CLASSES, MNIST_SIDE } from '@digitq/datasets';
import { ONNX_INPUT_NAME, ONNX_OUTPUT_NAME } from '../onnx/export.ts';
import { readOnnxFromModelFolder } from '../onnx/onnx-folder.ts';
import { EngineUnavailableError, imagesInBatch, type EngineDescription, type EngineDevice, type InferenceEngine } from './engine.ts';

export interface OnnxEngineOptions {
  /** Intra-op threads of one predict() (default 1: one worker process per core is the usual layout). */
  threads?: number;
  /** 'cpu' (default) or 'gpu' (CUDA execution provider; no silent fallback to CPU). */
  device?: EngineDevice;
}

export const DEFAULT_ONNX_THREADS = 1;

type OrtModule = typeof Ort;

async function importOrt(): Promise<OrtModule> {
  try {
    const module = await import('onnxruntime-node');
    // A CommonJS package: Node's ESM loader puts its exports on `default`; loaders that transpile to require() do not.
    return (module.default ?? module) as OrtModule;
  } catch (cause) {
    throw new EngineUnavailableError(`onnxruntime-node could not be loaded: ${(cause as Error).message}`, { cause });
  }
}

function sessionOptions(threads: number, device: EngineDevice): Ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [device === 'gpu' ? 'cuda' : 'cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    // One graph, one chain of ops: nothing to run in parallel between operators.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Idle pool threads sleep instead of spinning: a worker shares its cores with the API and other workers.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export class OnnxEngine implements InferenceEngine {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    private readonly threads: number,
    private readonly device: EngineDevice,
  ) {}

  /** Loads a model folder's verified model.onnx, or ONNX bytes. */
  static async load(source: string | Uint8Array, options: OnnxEngineOptions = {}): Promise<OnnxEngine> {
    const threads = options.threads ?? DEFAULT_ONNX_THREADS;
    const device = options.device ?? 'cpu';
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    const bytes = typeof source === 'string' ? await readOnnxFromModelFolder(source) : source;
    const ort = await importOrt();
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions(threads, device));
    } catch (cause) {
      const message = (cause as Error).message;
      if (device === 'gpu') {
        throw new EngineUnavailableError(
          `device gpu was requested but ONNX Runtime's CUDA execution provider is not available here (${message}); ` +
            'it needs an NVIDIA GPU, CUDA 12 and the provider libraries (npm install with ONNXRUNTIME_NODE_INSTALL=cuda12). Not falling back to CPU.',
          { cause },
        );
      }
      throw new EngineUnavailableError(`ONNX Runtime could not load the model: ${message}`, { cause });
    }
    if (!session.inputNames.includes(ONNX_INPUT_NAME) || !session.outputNames.includes(ONNX_OUTPUT_NAME)) {
      await session.release();
      throw new EngineUnavailableError(
        `the ONNX model's input/output are ${JSON.stringify(session.inputNames)}/${JSON.stringify(session.outputNames)}, expected "${ONNX_INPUT_NAME}"/"${ONNX_OUTPUT_NAME}"`,
      );
    }
    return new OnnxEngine(ort, session, threads, device);
  }

  async predict(batch: Float32Array): Promise<Float32Array> {
    const n = imagesInBatch(batch);
    if (n === 0) return new Float32Array(0);
    // The tensor wraps `batch` without copying it.
    const input = new this.ort.Tensor('float32', batch, [n, MNIST_SIDE, MNIST_SIDE, 1]);
    const output = (await this.session.run({ [ONNX_INPUT_NAME]: input }))[ONNX_OUTPUT_NAME]!;
    // A CPU output owns a fresh Float32Array: handed over as it is.
    const data = output.data;
    if (!(data instanceof Float32Array) || data.length !== n * DIGIT_CLASSES) {
      throw new Error(`the ONNX model answered ${output.type} ${JSON.stringify(output.dims)}, expected float32 [${n},${DIGIT_CLASSES}]`);
    }
    return data;
  }

  describe(): EngineDescription {
    return { engine: 'onnxruntime', threads: this.threads, device: this.device, backend: this.device === 'gpu' ? 'cuda' : 'cpu' };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
