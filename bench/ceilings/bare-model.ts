/**
 * Ceiling B: the served model alone, on the engine the worker would choose,
 * as the worker calls it (classifyDigits: one packed batch, one engine call,
 * the probabilities read back), at batch sizes 1..256, in a process of its
 * own. Sends the parent { engine, model_dir, rows: [{ batch, images_per_s: [one per repeat] }] }.
 *
 *   node --import tsx bench/ceilings/bare-model.ts --models-dir D --model NAME --seconds S --repeats N
 */
import { MNIST_PIXELS } from '@digitq/datasets';
import { classifyDigits } from '@digitq/model';
import { requiredArgs, send } from './child.ts';
import { engineLabel, loadServedEngine } from './engine.ts';

const BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Timed calls per repeat at least, however long a call takes. */
const MIN_CALLS = 2;

const args = requiredArgs(['models-dir', 'model', 'seconds', 'repeats']);
const seconds = Number(args.seconds);
const repeats = Number(args.repeats);
const { engine, dir } = await loadServedEngine(args['models-dir'], args.model);

function randomImages(count: number): Float32Array[] {
  return Array.from({ length: count }, () => Float32Array.from({ length: MNIST_PIXELS }, () => Math.random()));
}

async function imagesPerSecond(inputs: Float32Array[]): Promise<number> {
  let calls = 0;
  const start = performance.now();
  while (calls < MIN_CALLS || performance.now() - start < seconds * 1000) {
    await classifyDigits(engine, inputs);
    calls++;
  }
  return (calls * inputs.length * 1000) / (performance.now() - start);
}

const rows = [];
for (const batch of BATCH_SIZES) {
  const inputs = randomImages(batch);
  await classifyDigits(engine, inputs); // warm-up: kernels compiled, buffers sized
  const values: number[] = [];
  for (let r = 0; r < repeats; r++) values.push(await imagesPerSecond(inputs));
  rows.push({ batch, images_per_s: values });
}
send({ engine: engineLabel(engine.describe()), model_dir: dir, rows });
await engine.dispose();
process.disconnect();
