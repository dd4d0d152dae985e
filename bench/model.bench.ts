/**
 * npm run bench:model — training and inference throughput of the digit
 * models on every TensorFlow.js backend that loads here, by batch size.
 * Prints a table and writes bench/results/model.json.
 *
 * Throughputs are single-process: the wasm backend runs single-threaded
 * under Node, so a machine's capacity is this figure times its worker processes.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildModel, initBackend, type ArchitectureName, type BackendPreference } from '@digitq/model';

const INFERENCE_BATCHES = [1, 8, 32, 128];
const TRAIN_BATCH = 64;
/** Measure for about this long per cell, after one warm-up run. */
const TARGET_SECONDS = 3;
const ARCHITECTURES: ArchitectureName[] = ['digitnet-bn', 'tiny'];

interface Row {
  backend: string;
  architecture: string;
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
      rows.push({ backend: label, architecture, task: 'inference', batch, images_per_s: Math.round(ips), ms_per_batch: Number(ms.toFixed(2)) });
    }
    const x = tf.randomUniform([TRAIN_BATCH, 28, 28, 1]);
    const y = tf.oneHot(tf.randomUniform([TRAIN_BATCH], 0, 10, 'int32'), 10);
    // The pure-JS cpu backend trains the full model at a few images/s: one timed step is enough to tell.
    const { ips, ms } = await measure(async () => void (await model.trainOnBatch(x, y)), TRAIN_BATCH, label === 'cpu' ? 0 : TARGET_SECONDS);
    tf.dispose([x, y]);
    rows.push({ backend: label, architecture, task: 'training', batch: TRAIN_BATCH, images_per_s: Math.round(ips), ms_per_batch: Number(ms.toFixed(2)) });
    model.dispose();
  }
  return rows;
}

const rows: Row[] = [];
for (const backend of ['tensorflow', 'wasm', 'cpu'] as const) rows.push(...(await benchBackend(backend)));
console.table(rows);
const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'model.json'), JSON.stringify({ measured_at: new Date().toISOString(), node: process.version, rows }, null, 2) + '\n');
