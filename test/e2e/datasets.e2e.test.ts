/**
 * Datasets other than MNIST go through the same commands and the same
 * training API: an EMNIST-digits-style IDX set (transposed images, EMNIST's
 * file names) and a `<dir>/<label>/*.png` folder, both small and made here.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadMnist, sliceDataset, type DigitDataset } from '@digitq/datasets';
import { renderDigitImage } from '@digitq/imaging/test-images';
import { REPO_ROOT, useTempDirs } from '@digitq/test-utils';
import { DATA_DIR, MODELS_DIR, sleep, useSystem } from './system.ts';

const tempDir = useTempDirs('datasets');

/** IDX bytes (big-endian header: magic with the dimension count, then each dimension), gzipped as published. */
function idx(type: 'images' | 'labels', set: DigitDataset, transpose: boolean): Buffer {
  const dims = type === 'images' ? [set.count, set.rows, set.cols] : [set.count];
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x0800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  if (type === 'labels') return gzipSync(Buffer.concat([header, Buffer.from(set.labels)]));
  const pixels = Buffer.from(set.images);
  if (transpose) {
    // EMNIST stores each image column-major; the loader turns it back.
    const side = set.rows;
    for (let n = 0; n < set.count; n++) {
      for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) pixels[n * side * side + x * side + y] = set.images[n * side * side + y * side + x]!;
    }
  }
  return gzipSync(Buffer.concat([header, pixels]));
}

/** An EMNIST-digits-style set made of MNIST digits: EMNIST's names and its transposed layout. */
async function emnistStyleSet(dir: string): Promise<void> {
  const train = sliceDataset(await loadMnist(DATA_DIR, 'train'), 0, 1500);
  const test = sliceDataset(await loadMnist(DATA_DIR, 'test'), 0, 300);
  for (const [split, set] of [['train', train], ['test', test]] as const) {
    writeFileSync(join(dir, `emnist-digits-${split}-images-idx3-ubyte.gz`), idx('images', set, true));
    writeFileSync(join(dir, `emnist-digits-${split}-labels-idx1-ubyte.gz`), idx('labels', set, true));
  }
}

/** `<dir>/<label>/*.png`: rendered digits, placed and sized differently. */
async function folderSet(dir: string, perClass: number): Promise<void> {
  for (let digit = 0; digit < 10; digit++) {
    mkdirSync(join(dir, String(digit)), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const png = await renderDigitImage({ digit, width: 96, height: 96, digitHeight: 48 + (i % 5) * 6, offsetX: (i % 7) - 3, offsetY: (i % 3) - 1, strokeFraction: 0.08 + (i % 4) * 0.02 });
      writeFileSync(join(dir, String(digit), `${i}.png`), png);
    }
  }
}

function runCli(cli: string, args: string[], env: Record<string, string>): { status: number | null; last: Record<string, unknown> | null; output: string } {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'dist', `${cli}.js`), ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 240_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR, LOG_LEVEL: 'warn', ...env },
  });
  const lines = run.stdout.trim().split('\n');
  let last: Record<string, unknown> | null = null;
  try {
    last = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  } catch {
    last = null;
  }
  return { status: run.status, last, output: `${run.stdout}\n${run.stderr}` };
}

describe('an EMNIST-digits-style IDX set through the CLIs', () => {
  it('trains a version with `npm run train -- --dataset idx:<dir>` and evaluates it with `npm run eval -- --dataset idx:<dir>`', async () => {
    const data = tempDir();
    await emnistStyleSet(data);
    const modelsDir = tempDir();
    const env = { MODELS_DIR: modelsDir };
    const trained = runCli('train', ['--dataset', `idx:${data}`, '--architecture', 'tiny', '--epochs', '2', '--augment', 'none', '--name', 'emnistish'], env);
    expect(trained.status, trained.output).toBe(0);
    const metadata = JSON.parse(readFileSync(join(modelsDir, 'emnistish', 'v1', 'metadata.json'), 'utf8')) as { dataset: { name: string; train_count: number } };
    expect(metadata.dataset.name).toBe('emnist-digits-train');
    expect(metadata.dataset.train_count + (metadata.dataset as { validation_count?: number }).validation_count!).toBe(1500);
    const evaluated = runCli('eval', ['--model', 'emnistish@v1', '--dataset', `idx:${data}`], env);
    expect(evaluated.status, evaluated.output).toBe(0);
    expect(evaluated.last).toMatchObject({ count: 300 });
    // Learned, not guessed: a transposed set read the wrong way round would stay near chance.
    expect(evaluated.last!.accuracy as number).toBeGreaterThan(0.6);
  }, 300_000);
});

describe('a folder of PNGs through the training API', () => {
  const root = tempDir();
  const models = tempDir();
  cpSync(join(MODELS_DIR, 'digitnet'), join(models, 'digitnet'), { recursive: true });
  const system = useSystem({ workers: 0, env: { TRAINING_DATA_ROOT: root, MODELS_DIR: models } }, async (s) => {
    await s.startWorker({}, ['--device', 'cpu', '--queues', 'training']);
  });

  it('trains a version from `folder:<dir>` (scored on the MNIST test set) and registers it', async () => {
    const dir = join(root, 'drawn');
    await folderSet(dir, 30);
    const res = await fetch(`${system.baseUrl}/v1/trainings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: `folder:${dir}`, architecture: 'tiny', epochs: 3, augment: 'none', model_name: 'drawn' }),
    });
    expect(res.status).toBe(202);
    const training = (await res.json()) as { id: string };
    let view: Record<string, any> = {};
    for (const deadline = Date.now() + 240_000; Date.now() < deadline; await sleep(500)) {
      view = (await (await fetch(`${system.baseUrl}/v1/trainings/${training.id}`)).json()) as Record<string, any>;
      if (['succeeded', 'failed', 'canceled'].includes(view.status as string)) break;
    }
    expect(view.status, JSON.stringify(view.error)).toBe('succeeded');
    const version = view.model.version as string;
    const registered = (await (await fetch(`${system.baseUrl}/v1/models/drawn/${version}`)).json()) as Record<string, any>;
    expect(registered.dataset.name).toBe('drawn');
    expect(registered.dataset.train_count + (registered.dataset.validation_count ?? 0)).toBe(300);
    expect(registered.files['model.onnx']).toEqual(expect.stringMatching(/^[0-9a-f]{64}$/));
  }, 300_000);
});
