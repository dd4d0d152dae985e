/**
 * npm run train -- --dataset mnist --epochs 12 [--architecture digitnet-bn]
 *   [--batch-size 64] [--learning-rate 0.003] [--augment default|mild|none] [--validation-split 0.05]
 *   [--limit N] [--name digitnet] [--seed 1] [--resume <run-dir>] [--backend auto]
 *   [--base models/digitnet/v1]   (fine-tune: start from that version's weights)
 *   [--augment robust]            (also degrade half the images like low-resolution scans and forms)
 *
 * Trains a model, checkpointing every epoch under runs/<name>-<stamp>/ (resume
 * with --resume), then writes models/<name>/<version>/ and prints its
 * metadata as the last stdout line.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { loadConfig } from '@digitq/config';
import { loadMnist, loadTrainingDataset, sliceDataset } from '@digitq/datasets';
import { degradeForTraining, preprocessDigitImage } from '@digitq/imaging';
import {
  ARCHITECTURES,
  AUGMENT_PRESETS,
  DEFAULT_TRAIN_OPTIONS,
  checkpointPath,
  evaluateModel,
  initBackend,
  loadModelFolder,
  trainModel,
  trainingMetadata,
  writeModelFolder,
  type ArchitectureName,
  type AugmentPreset,
  type BackendPreference,
  type TrainOptions,
} from '@digitq/model';
import { createCliLogger, exitOnError } from './cli-support.ts';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'mnist' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    'learning-rate': { type: 'string' },
    architecture: { type: 'string' },
    augment: { type: 'string', default: 'default' },
    'validation-split': { type: 'string' },
    limit: { type: 'string' },
    name: { type: 'string' },
    seed: { type: 'string' },
    resume: { type: 'string' },
    backend: { type: 'string' },
    base: { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('train', config.LOG_LEVEL);

function num(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${flag} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function augmentOptions(preset: AugmentPreset) {
  if (preset === 'none') return null;
  const options = AUGMENT_PRESETS[preset];
  if (!options) throw new Error(`--augment must be none, ${Object.keys(AUGMENT_PRESETS).join(', ')}`);
  return options;
}

async function main(): Promise<void> {
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  log.info({ backend: backend.label }, 'tensorflow.js backend ready');

  const runDir = values.resume ? resolve(values.resume) : resolve('runs', `${values.name ?? config.DEFAULT_MODEL}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const previous = values.resume && existsSync(join(checkpointPath(runDir), 'state.json'))
    ? (JSON.parse(await readFile(join(checkpointPath(runDir), 'state.json'), 'utf8')) as { options: TrainOptions; name?: string })
    : null;
  if (values.resume && !previous) throw new Error(`--resume ${runDir}: no checkpoint found`);

  const architecture = (values.architecture ?? DEFAULT_TRAIN_OPTIONS.architecture) as ArchitectureName;
  if (!ARCHITECTURES.includes(architecture)) throw new Error(`--architecture must be one of ${ARCHITECTURES.join(', ')}`);
  const options: TrainOptions = previous?.options ?? {
    architecture,
    epochs: num(values.epochs, DEFAULT_TRAIN_OPTIONS.epochs, 'epochs'),
    batchSize: num(values['batch-size'], DEFAULT_TRAIN_OPTIONS.batchSize, 'batch-size'),
    learningRate: num(values['learning-rate'], DEFAULT_TRAIN_OPTIONS.learningRate, 'learning-rate'),
    warmupEpochs: DEFAULT_TRAIN_OPTIONS.warmupEpochs,
    augment: augmentOptions(values.augment as AugmentPreset),
    validationSplit: num(values['validation-split'], DEFAULT_TRAIN_OPTIONS.validationSplit, 'validation-split'),
    seed: num(values.seed, DEFAULT_TRAIN_OPTIONS.seed, 'seed'),
  };
  // A folder of the user's own photos goes through the same preprocessing as uploads to the API.
  const data = await loadTrainingDataset(values.dataset, {
    dataDir: config.DATA_DIR,
    decode: async (bytes) => (await preprocessDigitImage(bytes)).pixels,
  });
  for (const warning of data.warnings) log.warn(warning);
  const full = data.train;
  const limit = values.limit ? num(values.limit, full.count, 'limit') : full.count;
  const train = sliceDataset(full, 0, limit);
  // Without a test split of its own, a dataset is still reported against MNIST's test set.
  const test = data.test ?? (await loadMnist(config.DATA_DIR, 'test'));
  log.info({ runDir, options, trainCount: train.count, resume: Boolean(previous) }, 'training');

  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch}/{epochs} |{bar}| {value}/{total} batches | loss {loss} acc {accuracy} | {ips} img/s | eta {eta_formatted}',
      hideCursor: true,
      stream: process.stderr,
      etaBuffer: 50,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 10_000,
    },
    cliProgress.Presets.shades_classic,
  );
  let barEpoch = 0;
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());

  // A version folder (checksums verified); recorded in the metadata as name@version, wherever it lay.
  const base = values.base ? await loadModelFolder(resolve(values.base)) : undefined;
  const result = await trainModel(train, options, {
    initialModel: base?.model,
    degrade: degradeForTraining,
    checkpointDir: runDir,
    resume: Boolean(previous),
    testSet: test,
    signal: abort.signal,
    onBatch: (p) => {
      if (p.epoch !== barEpoch) {
        if (barEpoch) bar.stop();
        barEpoch = p.epoch;
        bar.start(p.batches, 0, { epoch: p.epoch, epochs: p.epochs, loss: '-', accuracy: '-', ips: '-' });
      }
      bar.update(p.batch, { loss: p.loss.toFixed(4), accuracy: p.accuracy.toFixed(4), ips: p.imagesPerSecond.toFixed(0) });
    },
    onEpoch: (r) => {
      bar.stop();
      barEpoch = 0;
      log.info(r, `epoch ${r.epoch} done`);
    },
  });

  const evaluation = await evaluateModel(result.model, test);
  const written = await writeModelFolder({
    modelsDir: config.MODELS_DIR,
    name: values.name ?? config.DEFAULT_MODEL,
    model: result.model,
    history: result.history,
    metadata: trainingMetadata({
      options,
      train,
      result,
      evaluation,
      backend: backend.label,
      origin: { command: `npm run train -- ${process.argv.slice(2).join(' ')}`.trim(), ...(base ? { base: `${base.metadata.name}@${base.metadata.version}` } : {}) },
    }),
  });
  log.info({ dir: written.dir, test_accuracy: evaluation.accuracy }, 'model written');
  process.stdout.write(JSON.stringify({ model: `${written.name}@${written.version}`, dir: written.dir, test_accuracy: evaluation.accuracy, backend: backend.label }) + '\n');
}

exitOnError(main(), log);
