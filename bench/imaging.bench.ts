/**
 * npx tsx bench/imaging.bench.ts [--seconds 1] [--repeats 3] [--vips-threads N] [--sharp-cache on|off]
 *
 * Cost of @digitq/imaging's preprocessDigitImages on typical uploads, at
 * concurrency 1 and 2: images/s and wall ms per image, and CPU ms per image
 * (process.cpuUsage around many sequential calls, so libvips' threads and
 * the garbage collector count too), each the median of `repeats` runs with
 * their min-max. Prints a table and writes bench/results/imaging.json.
 * Numbers depend on whatever else the machine is doing (the load average is
 * recorded with them).
 *
 * --vips-threads / --sharp-cache override what configureImaging() sets, to
 * measure the effect of those process-wide settings.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { configureImaging, preprocessDigitImages } from '@digitq/imaging';
import { renderDigitImage } from '@digitq/imaging/test-images';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    'vips-threads': { type: 'string' },
    'sharp-cache': { type: 'string' },
  },
});
const SECONDS_PER_REPEAT = Number(values.seconds);
const REPEATS = Number(values.repeats);
const CONCURRENCIES = [1, 2];
const DISTINCT_IMAGES = 8;
const BATCH_SIZE = 64;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'imaging.json');
const MICROSECONDS_PER_MS = 1000;

configureImaging();
if (values['vips-threads'] !== undefined) sharp.concurrency(Number(values['vips-threads']));
if (values['sharp-cache'] !== undefined) sharp.cache(values['sharp-cache'] === 'on');

interface Scenario {
  name: string;
  /** Images handed to one preprocessDigitImages call. */
  inputs: Buffer[];
  /** Goal for CPU ms per image (issue 11), if there is one. */
  cpuTargetMs?: number;
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
    { name: '28x28 PNG (MNIST-like)', inputs: small, cpuTargetMs: 0.15 },
    { name: '280x280 PNG drawing', inputs: drawing, cpuTargetMs: 1 },
    { name: '1000x800 JPEG photo-like', inputs: photo, cpuTargetMs: 10 },
    { name: `batch of ${BATCH_SIZE} (mixed)`, inputs: Array.from({ length: BATCH_SIZE }, (_, i) => mixed[i % mixed.length]!) },
  ];
}

/** Median of the repeats with their range. */
interface Spread {
  median: number;
  min: number;
  max: number;
}

interface Row {
  scenario: string;
  concurrency: number;
  images: number;
  images_per_s: Spread;
  wall_ms_per_image: Spread;
  cpu_ms_per_image: Spread;
  cpu_target_ms: number | null;
}

function spread(samples: number[], digits: number): Spread {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(digits));
  return { median: round(sorted[sorted.length >> 1]!), min: round(sorted[0]!), max: round(sorted[sorted.length - 1]!) };
}

async function run(scenario: Scenario, concurrency: number): Promise<number> {
  const results = await preprocessDigitImages(scenario.inputs, { concurrency });
  const failed = results.find((r) => !r.ok);
  if (failed && !failed.ok) throw failed.error;
  return results.length;
}

async function measure(scenario: Scenario, concurrency: number): Promise<Row> {
  await run(scenario, concurrency); // warm-up
  const perSecond: number[] = [];
  const wallMs: number[] = [];
  const cpuMs: number[] = [];
  let total = 0;
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    let images = 0;
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < SECONDS_PER_REPEAT * 1000) {
      images += await run(scenario, concurrency);
      elapsed = performance.now() - start;
    }
    const cpu = process.cpuUsage(cpuBefore);
    perSecond.push((1000 * images) / elapsed);
    wallMs.push(elapsed / images);
    cpuMs.push((cpu.user + cpu.system) / MICROSECONDS_PER_MS / images);
    total += images;
  }
  return {
    scenario: scenario.name,
    concurrency,
    images: total,
    images_per_s: spread(perSecond, 1),
    wall_ms_per_image: spread(wallMs, 3),
    cpu_ms_per_image: spread(cpuMs, 3),
    cpu_target_ms: scenario.cpuTargetMs ?? null,
  };
}

function table(rows: Row[]): string {
  const header = ['scenario', 'concurrency', 'images', 'images/s', 'wall ms/image', 'CPU ms/image [min-max]', 'CPU target'];
  const range = (s: Spread) => `${s.median.toFixed(3)} [${s.min.toFixed(3)}-${s.max.toFixed(3)}]`;
  const body = rows.map((r) => [
    r.scenario,
    String(r.concurrency),
    String(r.images),
    r.images_per_s.median.toFixed(1),
    r.wall_ms_per_image.median.toFixed(3),
    range(r.cpu_ms_per_image),
    r.cpu_target_ms === null ? '-' : `<= ${r.cpu_target_ms}`,
  ]);
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
  sharp_cache: sharp.cache().items.max > 0,
  cpus: availableParallelism(),
  cpu_model: cpus()[0]?.model ?? 'unknown',
  load_average_1m: Number(loadavg()[0]!.toFixed(2)),
};
await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(
  RESULTS,
  JSON.stringify({ created_at: new Date().toISOString(), seconds_per_repeat: SECONDS_PER_REPEAT, repeats: REPEATS, environment, rows }, null, 2) + '\n',
);
process.stdout.write(`written ${RESULTS}\n`);
