/**
 * npm run bench:model [-- --seconds 3] [--backends tensorflow,wasm,cpu] — training and
 * inference throughput of the digit models on every TensorFlow.js backend
 * that loads here, inference on ONNX Runtime (the same untrained models
 * exported to ONNX) with 1 and 2 intra-op threads, by batch size, and the
 * trained digitnet@v1's ONNX variants (fp32 model.onnx, fp16, int8) on one
 * thread. Prints a table and writes bench/results/model.json.
 * (`npm run bench` runs it short and without the pure-JS cpu backend, whose
 * one training step of digitnet-bn alone takes minutes.)
 *
 * Throughputs are single-process: the wasm backend runs single-threaded
 * under Node, so a machine's capacity is this figure times its worker
 * processes; ONNX Runtime's 2-thread figure is one process using two cores.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DERIVED_VARIANTS,
  OnnxEngine,
  buildModel,
  encodeOnnxModel,
  initBackend,
  layersModelToOnnx,
  readVariantOnnx,
  type ArchitectureName,
  type BackendPreference,
} from '@digitq/model';

const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, backends: { type: 'string', default: BACKENDS.join(',') } } });
const INFERENCE_BATCHES = [1, 8, 32, 128];
const TRAIN_BATCH = 64;
/** Measure for about this long per cell, after one warm-up run. */
const TARGET_SECONDS = Number(args.seconds);
const SELECTED_BACKENDS = BACKENDS.filter((b) => args.backends.split(',').includes(b));
const ARCHITECTURES: ArchitectureName[] = ['digitnet-bn', 'tiny'];
const ONNX_THREADS = [1, 2];
/** The committed, trained model whose variants are compared (an int8 graph needs real calibrated ranges). */
const VARIANT_MODEL_DIR = join(import.meta.dirname, '..', 'models', 'digitnet', 'v1');
const VARIANT_BATCHES = [1, 32, 128];
const VARIANT_THREADS = 1;
const VARIANT_ROUNDS = 6;

interface Row {
  engine: 'tfjs' | 'onnxruntime';
  threads: number;
  backend: string;
  architecture: string;
  /** fp32 (the model as trained), or an ONNX variant of digitnet@v1. */
  variant: 'fp32' | 'fp16' | 'int8';
  /** Size of the ONNX file (variant rows). */
  model_bytes?: number;
  task: 'inference' | 'training';
  batch: number;
  images_per_s: number;
  ms_per_batch: number;
}

async function measure(run: () => Promise<void>, images: number, maxSeconds = TARGET_SECONDS): Promise<{ ips: number; ms: number }> {
  await run();
  let n = 0;
  const start = performance.now();
  while ((performance.now() - start) / 1000 < maxSeconds || n < 2) {
    await run();
    n++;
  }
  const seconds = (performance.now() - start) / 1000;
  return { ips: (n * images) / seconds, ms: (seconds * 1000) / n };
}

async function benchBackend(preference: BackendPreference): Promise<Row[]> {
  let label: string;
  try {
    label = (await initBackend(preference)).label;
  } catch (error) {
    console.log(`${preference}: unavailable (${(error as Error).message})`);
    return [];
  }
  const rows: Row[] = [];
  for (const architecture of ARCHITECTURES) {
    const model = buildModel(architecture);
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    for (const batch of INFERENCE_BATCHES) {
      const x = tf.randomUniform([batch, 28, 28, 1]);
      const { ips, ms } = await measure(async () => {
        const y = model.predict(x) as tf.Tensor;
        await y.data();
        y.dispose();
      }, batch);
      x.dispose();
      rows.push({ engine: 'tfjs', threads: 1, backend: label, architecture, variant: 'fp32', task: 'inference', batch, images_per_s: Math.round(ips), ms_per_batch: Number(ms.toFixed(2)) });
    }
    const x = tf.randomUniform([TRAIN_BATCH, 28, 28, 1]);
    const y = tf.oneHot(tf.randomUniform([TRAIN_BATCH], 0, 10, 'int32'), 10);
    // The pure-JS cpu backend trains the full model at a few images/s: one timed step is enough to tell.
    const { ips, ms } = await measure(async () => void (await model.trainOnBatch(x, y)), TRAIN_BATCH, label === 'cpu' ? 0 : TARGET_SECONDS);
    tf.dispose([x, y]);
    rows.push({ engine: 'tfjs', threads: 1, backend: label, architecture, variant: 'fp32', task: 'training', batch: TRAIN_BATCH, images_per_s: Math.round(ips), ms_per_batch: Number(ms.toFixed(2)) });
    model.dispose();
  }
  return rows;
}

/** Inference on ONNX Runtime's CPU provider, each architecture exported from tfjs. */
async function benchOnnx(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const architecture of ARCHITECTURES) {
    const model = buildModel(architecture);
    const bytes = encodeOnnxModel(layersModelToOnnx(model));
    model.dispose();
    for (const threads of ONNX_THREADS) {
      const engine = await OnnxEngine.load(bytes, { threads });
      for (const batch of INFERENCE_BATCHES) {
        const x = new Float32Array(batch * 28 * 28).map(() => Math.random());
        const { ips, ms } = await measure(async () => void (await engine.predict(x)), batch);
        rows.push({ engine: 'onnxruntime', threads, backend: 'cpu', architecture, variant: 'fp32', task: 'inference', batch, images_per_s: Math.round(ips), ms_per_batch: Number(ms.toFixed(2)) });
      }
      await engine.dispose();
    }
  }
  return rows;
}

/**
 * digitnet@v1 as model.onnx, model.fp16.onnx and model.int8.onnx on ONNX
 * Runtime's CPU provider, one thread. The variants take turns at each batch
 * size in VARIANT_ROUNDS short rounds and each keeps its best round: other
 * processes on a shared machine only ever slow a round down, so the best one
 * is the closest to the variant's own speed, and turns spread that load alike.
 */
async function benchVariants(): Promise<Row[]> {
  const rows: Row[] = [];
  const variants = await Promise.all(
    (['fp32', ...DERIVED_VARIANTS] as const).map(async (variant) => {
      const bytes = await readVariantOnnx(VARIANT_MODEL_DIR, variant);
      return { variant, bytes, engine: await OnnxEngine.load(bytes, { threads: VARIANT_THREADS }) };
    }),
  );
  for (const batch of VARIANT_BATCHES) {
    const x = new Float32Array(batch * 28 * 28).map(() => Math.random());
    const best = new Map<string, { ips: number; ms: number }>();
    for (let round = 0; round < VARIANT_ROUNDS; round++) {
      for (const { variant, engine } of variants) {
        const result = await measure(async () => void (await engine.predict(x)), batch, TARGET_SECONDS / VARIANT_ROUNDS);
        if (result.ips > (best.get(variant)?.ips ?? 0)) best.set(variant, result);
      }
    }
    for (const { variant, bytes } of variants) {
      const { ips, ms } = best.get(variant)!;
      rows.push({
        engine: 'onnxruntime',
        threads: VARIANT_THREADS,
        backend: 'cpu',
        architecture: 'digitnet-bn',
        variant,
        model_bytes: bytes.length,
        task: 'inference',
        batch,
        images_per_s: Math.round(ips),
        ms_per_batch: Number(ms.toFixed(2)),
      });
    }
  }
  await Promise.all(variants.map((v) => v.engine.dispose()));
  return rows;
}

const rows: Row[] = [];
// ONNX Runtime right after wasm, before the slow pure-JS cpu backend.
for (const backend of SELECTED_BACKENDS.filter((b) => b !== 'cpu')) rows.push(...(await benchBackend(backend)));
rows.push(...(await benchOnnx()));
rows.push(...(await benchVariants()));
if (SELECTED_BACKENDS.includes('cpu')) rows.push(...(await benchBackend('cpu')));
console.table(rows);
const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'model.json'), JSON.stringify({ measured_at: new Date().toISOString(), node: process.version, seconds_per_cell: TARGET_SECONDS, rows }, null, 2) + '\n');
