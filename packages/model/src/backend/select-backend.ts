/**
 * Chooses the TensorFlow.js backend. Called once by each entrypoint (CLI,
 * worker, bench); library code never picks a backend.
 *
 * Order for `auto`: tfjs-node (native TensorFlow, when its optional package
 * installed), then wasm with SIMD plus our training kernels, then the
 * pure-JS cpu backend.
 */
import * as tf from '@tensorflow/tfjs';
import { registerWasmTrainingKernels } from './wasm-training-kernels.ts';

export const BACKEND_PREFERENCES = ['auto', 'tensorflow', 'wasm', 'cpu', 'gpu'] as const;
export type BackendPreference = (typeof BACKEND_PREFERENCES)[number];

export interface BackendInfo {
  /** tfjs backend name: tensorflow | wasm | cpu */
  name: string;
  /** What actually runs, for logs and metadata: tfjs-node, tfjs-node-gpu, wasm-simd, wasm, cpu. */
  label: string;
  simd: boolean;
}

export class BackendUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendUnavailableError';
  }
}

async function tryImport(specifier: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch {
    return null;
  }
}

async function useTensorflow(packageName: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): Promise<boolean> {
  if (!(await tryImport(packageName))) return false;
  return tf.setBackend('tensorflow');
}

async function useWasm(): Promise<BackendInfo> {
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new BackendUnavailableError('the wasm backend failed to initialise');
  await tf.ready();
  registerWasmTrainingKernels();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  return { name: 'wasm', label: simd ? 'wasm-simd' : 'wasm', simd };
}

export async function initBackend(preference: BackendPreference = 'auto'): Promise<BackendInfo> {
  switch (preference) {
    case 'gpu':
      if (await useTensorflow('@tensorflow/tfjs-node-gpu')) return { name: 'tensorflow', label: 'tfjs-node-gpu', simd: false };
      throw new BackendUnavailableError(
        'GPU backend requested but @tensorflow/tfjs-node-gpu is not installed or failed to load (needs CUDA); refusing to fall back to CPU',
      );
    case 'tensorflow':
      if (await useTensorflow('@tensorflow/tfjs-node')) return { name: 'tensorflow', label: 'tfjs-node', simd: false };
      throw new BackendUnavailableError('@tensorflow/tfjs-node is not installed (it is an optional dependency)');
    case 'wasm':
      return useWasm();
    case 'cpu':
      await tf.setBackend('cpu');
      await tf.ready();
      return { name: 'cpu', label: 'cpu', simd: false };
    case 'auto':
      if (await useTensorflow('@tensorflow/tfjs-node')) return { name: 'tensorflow', label: 'tfjs-node', simd: false };
      try {
        return await useWasm();
      } catch {
        return initBackend('cpu');
      }
  }
}
