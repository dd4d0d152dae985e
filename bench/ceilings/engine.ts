/**
 * The served model loaded the way digitq's worker loads it: the same engine
 * choice (INFERENCE_ENGINE, INFERENCE_THREADS and TF_BACKEND at their
 * defaults: ONNX Runtime when the version has a verified model.onnx, else
 * tfjs) on the CPU, so the ceilings compare the worker with its own engine.
 */
import { loadConfig } from '@digitq/config';
import { createEngine, initBackend, resolveModelDir, type InferenceEngine } from '@digitq/model';

export async function loadServedEngine(modelsDir: string, model: string): Promise<{ engine: InferenceEngine; dir: string }> {
  const defaults = loadConfig({});
  const backend = await initBackend(defaults.TF_BACKEND);
  const dir = await resolveModelDir(modelsDir, model);
  const engine = await createEngine({ kind: defaults.INFERENCE_ENGINE, threads: defaults.INFERENCE_THREADS, device: 'cpu', tfjsBackend: backend.label }, dir);
  return { engine, dir };
}

/** e.g. "onnxruntime (cpu, 1 thread)" or "tfjs (wasm-simd, 1 thread)". */
export function engineLabel(description: { engine: string; backend: string; threads: number }): string {
  return `${description.engine} (${description.backend}, ${description.threads} thread${description.threads === 1 ? '' : 's'})`;
}
