/**
 * npx tsx bench/imaging.bench.ts [--seconds 2]
 *
 * Throughput of @digitq/imaging's preprocessDigitImages on typical uploads,
 * at concurrency 1 and 2. Prints a table and writes bench/results/imaging.json.
 * Numbers depend on whatever else the machine is doing (the load average is
 * recorded with them).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { preprocessDigitImages } from '@digitq/imaging';
import { renderDigitImage } from '@digitq/imaging/test-images';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const SECONDS_PER_ROW = Number(values.seconds);
const CONCURRENCIES = [1, 2];
const DISTINCT_IMAGES = 8;
const BATCH_SIZE = 64;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'imaging.json');

interface Scenario {
  name: string;
  /** Images handed to one preprocessDigitImages call. */
  inputs: Buffer[];
}

async function distinct(count: number, make: (i: number) => Promise<Buffer>): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => make(i)));
}

async function scenarios(): Promise<Scenario[]> {
  const small = await distinct(DISTINCT_IMAGES, (i) =>
    renderDigitImage({ digit: i % 10, width: 28, height: 28, digitHeight: 20, strokeFraction: 0.13, polarity: 'light-on-dark' }),
  );
  const drawing = await distinct(DISTINCT_IMAGES, (i) => renderDigitImage({ digit: i % 10, offsetX: 8 * i - 30, offsetY: 20 - 5 * i }));
  const photo = await distinct(DISTINCT_IMAGES, (i) =>
    renderDigitImage({ digit: i % 10, format: 'jpeg', photo: true, width: 1000, height: 800, digitHeight: 360, offsetX: 40 * i - 150, seed: i + 1 }),
  );
  const mixed = [...small, ...drawing, ...photo];
  return [
    { name: '28x28 PNG (MNIST-like)', inputs: small },
    { name: '280x280 PNG drawing', inputs: drawing },
    { name: '1000x800 JPEG photo-like', inputs: photo },
    { name: `batch of ${BATCH_SIZE} (mixed)`, inputs: Array.from({ length: BATCH_SIZE }, (_, i) => mixed[i % mixed.length]!) },
  ];
}

interface Row {
  scenario: string;
  concurrency: number;
  images: number;
  seconds: number;
  images_per_s: number;
  ms_per_image: number;
}

async function measure(scenario: Scenario, concurrency: number): Promise<Row> {
  await preprocessDigitImages(scenario.inputs, { concurrency }); // warm-up
  let images = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < SECONDS_PER_ROW * 1000) {
    const results = await preprocessDigitImages(scenario.inputs, { concurrency });
    const failed = results.find((r) => !r.ok);
    if (failed && !failed.ok) throw failed.error;
    images += results.length;
    elapsed = performance.now() - start;
  }
  const seconds = elapsed / 1000;
  return {
    scenario: scenario.name,
    concurrency,
    images,
    seconds: Number(seconds.toFixed(2)),
    images_per_s: Number((images / seconds).toFixed(1)),
    ms_per_image: Number(((1000 * seconds) / images).toFixed(2)),
  };
}

function table(rows: Row[]): string {
  const header = ['scenario', 'concurrency', 'images', 'images/s', 'ms/image'];
  const body = rows.map((r) => [r.scenario, String(r.concurrency), String(r.images), r.images_per_s.toFixed(1), r.ms_per_image.toFixed(2)]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

const rows: Row[] = [];
for (const scenario of await scenarios()) {
  for (const concurrency of CONCURRENCIES) rows.push(await measure(scenario, concurrency));
}
process.stdout.write(table(rows) + '\n');

const environment = {
  node: process.version,
  sharp: sharp.versions.sharp,
  vips: sharp.versions.vips,
  vips_threads: sharp.concurrency(),
  cpus: availableParallelism(),
  cpu_model: cpus()[0]?.model ?? 'unknown',
  load_average_1m: Number(loadavg()[0]!.toFixed(2)),
};
await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(RESULTS, JSON.stringify({ created_at: new Date().toISOString(), seconds_per_row: SECONDS_PER_ROW, environment, rows }, null, 2) + '\n');
process.stdout.write(`written ${RESULTS}\n`);
