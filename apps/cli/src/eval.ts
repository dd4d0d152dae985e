/**
 * npm run eval -- [--model <dir> | --model name@version] [--dataset mnist|idx:<dir>|folder:<dir>] [--split test] [--limit N]
 *   [--distort default|mild]   (robustness: the test digits distorted like training augmentation, seeded)
 *   [--engine onnx|tfjs]       (evaluate through a serving engine: ONNX Runtime on model.onnx, or tfjs)
 *
 * Evaluates a model folder (default: the active version of DEFAULT_MODEL) and
 * prints one JSON line on stdout:
 * {"dataset":"mnist","split":"test","count":10000,"accuracy":0.99xx,"backend":"wasm-simd",...}
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '@digitq/config';
import { ensureMnist, loadDigitFolder, loadIdxDigits, loadMnist, parseDatasetSpec, sliceDataset, type DatasetSpec, type DigitDataset, type Split } from '@digitq/datasets';
import { preprocessDigitImage } from '@digitq/imaging';
import { AUGMENT_PRESETS, SeededRandom, augmentBatch, createEngine, evaluateEngine, evaluateModel, initBackend, loadModelFolder, readModelMetadata, resolveModelDir, type BackendPreference, type EvaluateOptions } from '@digitq/model';
import { METADATA_JSON } from '@digitq/registry';
import { createCliLogger, exitOnError } from './cli-support.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    dataset: { type: 'string', default: 'mnist' },
    split: { type: 'string', default: 'test' },
    limit: { type: 'string' },
    backend: { type: 'string' },
    distort: { type: 'string' },
    engine: { type: 'string' },
  },
});

/** Seed of the distortions, so a robustness figure can be reproduced. */
const DISTORT_SEED = 12345;

const config = loadConfig();
const log = createCliLogger('eval', config.LOG_LEVEL);

/**
 * The images to score: a split of MNIST or of any IDX set (`idx:<dir>`, EMNIST digits included), or every
 * image of a `folder:<dir>` (which has no splits), decoded by the same preprocessing as uploads.
 */
async function evaluationSet(spec: DatasetSpec, split: Split): Promise<DigitDataset> {
  switch (spec.kind) {
    case 'mnist':
      await ensureMnist({ dataDir: config.DATA_DIR, baseUrl: config.MNIST_BASE_URL });
      return loadMnist(config.DATA_DIR, split);
    case 'idx':
      return loadIdxDigits(spec.dir, split);
    case 'folder':
      return (await loadDigitFolder(spec.dir, { decode: async (bytes) => (await preprocessDigitImage(bytes)).pixels })).dataset;
    case 'feedback':
    case 'mnist+feedback':
      throw new Error(`${spec.kind}: corrections live in Redis; each version's evaluation report judges it on the held-back ones (GET /v1/models/{name}/{version}/report)`);
  }
}

async function main(): Promise<void> {
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label }, 'tensorflow.js backend ready');
  const ref = values.model ?? config.DEFAULT_MODEL;
  const dir = existsSync(join(ref, METADATA_JSON)) ? ref : await resolveModelDir(config.MODELS_DIR, ref);
  if (values.engine && values.engine !== 'onnx' && values.engine !== 'tfjs') throw new Error('--engine must be onnx or tfjs');
  const engine = values.engine ? await createEngine({ kind: values.engine as 'onnx' | 'tfjs', tfjsBackend: backend.label }, dir) : null;
  const { model, metadata } = engine ? { model: null, metadata: await readModelMetadata(dir) } : await loadModelFolder(dir);
  if (values.split !== 'test' && values.split !== 'train') throw new Error('--split must be test or train');
  const full = await evaluationSet(parseDatasetSpec(values.dataset), values.split);
  const set = values.limit ? sliceDataset(full, 0, Number(values.limit)) : full;
  const started = performance.now();
  const distortion = values.distort ? AUGMENT_PRESETS[values.distort as keyof typeof AUGMENT_PRESETS] : undefined;
  if (values.distort && !distortion) throw new Error(`--distort must be one of ${Object.keys(AUGMENT_PRESETS).join(', ')}`);
  const rand = new SeededRandom(DISTORT_SEED);
  const evalOptions: EvaluateOptions = distortion ? { transform: (x) => augmentBatch(x, distortion, rand) } : {};
  const evaluation = engine ? await evaluateEngine(engine, set, evalOptions) : await evaluateModel(model!, set, evalOptions);
  const seconds = (performance.now() - started) / 1000;
  log.info({ model: `${metadata.name}@${metadata.version}`, confusion: evaluation.confusion }, 'confusion matrix (rows: label, columns: prediction)');
  process.stdout.write(
    JSON.stringify({
      dataset: values.dataset,
      split: values.split,
      ...(values.distort ? { distort: values.distort } : {}),
      count: evaluation.count,
      accuracy: evaluation.accuracy,
      backend: backend.label,
      ...(engine ? { engine: engine.describe() } : {}),
      model: `${metadata.name}@${metadata.version}`,
      loss: Number(evaluation.loss.toFixed(6)),
      images_per_s: Math.round(evaluation.count / seconds),
    }) + '\n',
  );
}

exitOnError(main(), log);
