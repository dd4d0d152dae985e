/**
 * Epoch checkpoints: model weights, Adam state, RNG state and history, written
 * to a temporary folder and renamed over the previous checkpoint so a process
 * killed mid-write leaves the last complete one in place.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadLayersModel, saveLayersModel } from './file-io.ts';
import type { EpochRecord, TrainOptions } from '../train.ts';

const STATE_JSON = 'state.json';
const OPTIMIZER_BIN = 'optimizer.bin';
const CHECKPOINT = 'checkpoint';

export interface CheckpointState {
  model: tf.LayersModel;
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
  history: EpochRecord[];
  epochsDone: number;
  rngState: number;
  seconds: number;
  options: TrainOptions;
}

interface StateJson {
  epochsDone: number;
  rngState: number;
  seconds: number;
  history: EpochRecord[];
  options: TrainOptions;
  optimizer: { name: string; shape: number[] }[];
}

export function checkpointPath(runDir: string): string {
  return join(runDir, CHECKPOINT);
}

export async function writeCheckpoint(
  runDir: string,
  state: Omit<CheckpointState, 'optimizerWeights'> & { optimizer: tf.Optimizer },
): Promise<void> {
  const target = checkpointPath(runDir);
  const tmp = `${target}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveLayersModel(state.model, tmp);
  const weights = await state.optimizer.getWeights();
  const arrays = await Promise.all(weights.map((w) => w.tensor.data() as Promise<Float32Array>));
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const packed = new Float32Array(total);
  let offset = 0;
  for (const a of arrays) {
    packed.set(a, offset);
    offset += a.length;
  }
  const json: StateJson = {
    epochsDone: state.epochsDone,
    rngState: state.rngState,
    seconds: state.seconds,
    history: state.history,
    options: state.options,
    optimizer: weights.map((w) => ({ name: w.name, shape: w.tensor.shape })),
  };
  await writeFile(join(tmp, OPTIMIZER_BIN), new Uint8Array(packed.buffer));
  await writeFile(join(tmp, STATE_JSON), JSON.stringify(json, null, 2));
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) await rename(target, old);
  await rename(tmp, target);
  await rm(old, { recursive: true, force: true });
}

/** The last complete checkpoint under `runDir`, or null when there is none. */
export async function readCheckpoint(runDir: string): Promise<CheckpointState | null> {
  const dir = checkpointPath(runDir);
  if (!existsSync(join(dir, STATE_JSON))) return null;
  const json = JSON.parse(await readFile(join(dir, STATE_JSON), 'utf8')) as StateJson;
  const model = await loadLayersModel(dir);
  const bytes = await readFile(join(dir, OPTIMIZER_BIN));
  const packed = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  let offset = 0;
  const optimizerWeights = json.optimizer.map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(packed.subarray(offset, offset + size), shape);
    offset += size;
    return { name, tensor };
  });
  return { model, optimizerWeights, history: json.history, epochsDone: json.epochsDone, rngState: json.rngState, seconds: json.seconds, options: json.options };
}

