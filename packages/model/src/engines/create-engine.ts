/**
 * Picks the inference engine for a model folder. `auto` serves with ONNX
 * Runtime when the folder has a verified model.onnx and the runtime loads
 * (and, for device 'gpu', finds its CUDA provider); otherwise with tfjs, and
 * the engine's describe() says why in `fallbackReason`. A model.onnx that
 * fails its checksum is an error, not a reason to fall back.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MODEL_ONNX } from '../onnx/onnx-folder.ts';
import { EngineUnavailableError, type EngineDescription, type EngineDevice, type EngineKind, type InferenceEngine } from './engine.ts';
import { OnnxEngine } from './onnx-engine.ts';
import { TfjsEngine } from './tfjs-engine.ts';

export interface CreateEngineOptions {
  kind: EngineKind;
  /** ONNX Runtime intra-op threads (default 1). tfjs ignores it: its wasm backend runs one thread under Node. */
  threads?: number;
  /** Default 'cpu'. 'gpu' never falls back to a CPU engine. */
  device?: EngineDevice;
  /** The tfjs backend label the entrypoint's initBackend returned; tfjs on 'gpu' needs tfjs-node-gpu. */
  tfjsBackend?: string;
}

async function loadTfjs(options: CreateEngineOptions, modelDir: string, fallbackReason?: string): Promise<InferenceEngine> {
  if (options.device === 'gpu' && options.tfjsBackend !== 'tfjs-node-gpu') {
    throw new EngineUnavailableError(
      `device gpu needs ONNX Runtime's CUDA provider or the tfjs-node-gpu backend (tfjs runs on ${options.tfjsBackend ?? 'an unknown backend'})` +
        (fallbackReason ? `; ONNX Runtime: ${fallbackReason}` : ''),
    );
  }
  const engine = await TfjsEngine.load(modelDir, { backendLabel: options.tfjsBackend });
  if (!fallbackReason) return engine;
  return {
    predict: (batch) => engine.predict(batch),
    describe: (): EngineDescription => ({ ...engine.describe(), fallbackReason }),
    dispose: () => engine.dispose(),
  };
}

export async function createEngine(options: CreateEngineOptions, modelDir: string): Promise<InferenceEngine> {
  const onnxOptions = { threads: options.threads, device: options.device };
  switch (options.kind) {
    case 'onnx':
      return OnnxEngine.load(modelDir, onnxOptions);
    case 'tfjs':
      return loadTfjs(options, modelDir);
    case 'auto': {
      if (!existsSync(join(modelDir, MODEL_ONNX))) return loadTfjs(options, modelDir, `no ${MODEL_ONNX} in ${modelDir}`);
      try {
        return await OnnxEngine.load(modelDir, onnxOptions);
      } catch (error) {
        if (!(error instanceof EngineUnavailableError)) throw error;
        return loadTfjs(options, modelDir, error.message);
      }
    }
  }
}
