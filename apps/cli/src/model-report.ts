/**
 * npm run model:report -- <name@version | name | folder> [--count 2000] [--compare name@version]
 *   [--engine auto|onnx|tfjs] [--svg <dir>]
 *
 * Computes a version's evaluation report (@digitq/evaluation): the
 * temperature fitted on MNIST training images the version never trained on,
 * then on the calibrated probabilities the whole MNIST test set, the
 * robustness suite (the first --count test digits under every degradation,
 * through PNG and the real preprocessing; cached under DATA_DIR) and, when
 * Redis is reachable, the held-back user corrections.
 *
 * Writes report.json into the version folder and, when REDIS_URL reaches a
 * Redis that has the version registered, into the registry. Prints a table on
 * stdout: accuracy, error rate and ECE per dataset; with --compare (a version
 * whose report exists) before and after side by side with the error-rate
 * ratio. --svg <dir> also writes the report's three charts there (compared
 * with --compare's report when given).
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '@digitq/config';
import { FEEDBACK_HELDBACK_DATASET, REPORT_JSON, evaluationReportSchema, type EvaluationReport, type ModelMetadata } from '@digitq/contracts';
import { loadMnist, sliceDataset, type DigitDataset } from '@digitq/datasets';
import {
  DEFAULT_SUITE_COUNT,
  buildRobustnessSuite,
  compareReports,
  evaluateVersion,
  labelledImagesOf,
  renderConfusionSvg,
  renderReliabilitySvg,
  renderRobustnessSvg,
  type Classify,
} from '@digitq/evaluation';
import { FeedbackStore } from '@digitq/jobs';
import { createEngine, initBackend, readModelMetadata, resolveModelDir, type BackendPreference, type EngineKind } from '@digitq/model';
import { METADATA_JSON, ModelRegistry } from '@digitq/registry';
import { connectRedisIfReachable, createCliLogger, exitOnError } from './cli-support.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    count: { type: 'string', default: String(DEFAULT_SUITE_COUNT) },
    compare: { type: 'string' },
    engine: { type: 'string', default: 'auto' },
    svg: { type: 'string' },
    backend: { type: 'string' },
  },
});

/** MNIST's training split: the images a version's `dataset.train_count + validation_count` must add up to for its tail to be known. */
const MNIST_TRAIN_COUNT = 60_000;
/** Held-out images when a version's metadata does not say which were never trained on. */
const FALLBACK_CALIBRATION_COUNT = 3000;

const config = loadConfig();
const log = createCliLogger('model-report', config.LOG_LEVEL);


/**
 * The MNIST training images this version never trained on. Training holds
 * out the last `validation_split` of its set as validation and never fits on
 * it (v1: the last 3,000 of 60,000), so when the metadata says the set was
 * all of mnist-train, that tail is clean held-out data.
 */
function calibrationSlice(metadata: ModelMetadata, train: DigitDataset): { set: DigitDataset; fittedOn: string } {
  const { name, train_count, validation_count } = metadata.dataset;
  if (name === 'mnist-train' && train_count + validation_count === MNIST_TRAIN_COUNT && validation_count > 0) {
    return {
      set: sliceDataset(train, train_count, MNIST_TRAIN_COUNT, 'mnist-train-heldout'),
      fittedOn: `mnist-train last ${validation_count.toLocaleString('en-US')} (the validation split, never trained on)`,
    };
  }
  log.warn({ dataset: metadata.dataset }, `the metadata does not say which MNIST training images were held out; fitting on the last ${FALLBACK_CALIBRATION_COUNT}`);
  return {
    set: sliceDataset(train, MNIST_TRAIN_COUNT - FALLBACK_CALIBRATION_COUNT, MNIST_TRAIN_COUNT, 'mnist-train-tail'),
    fittedOn: `mnist-train last ${FALLBACK_CALIBRATION_COUNT.toLocaleString('en-US')} (training set ${name}: these may have been trained on)`,
  };
}

function modelDirOf(ref: string): Promise<string> {
  return existsSync(join(ref, METADATA_JSON)) ? Promise.resolve(ref) : resolveModelDir(config.MODELS_DIR, ref);
}

/** --compare's report: its folder's report.json, else the registry's. */
async function loadReport(ref: string, registry: ModelRegistry | null): Promise<EvaluationReport> {
  const dir = await modelDirOf(ref).catch(() => null);
  if (dir && existsSync(join(dir, REPORT_JSON))) return evaluationReportSchema.parse(JSON.parse(await readFile(join(dir, REPORT_JSON), 'utf8')));
  const [name, version] = ref.split('@');
  const stored = registry && name && version ? await registry.getReport(name, version) : null;
  if (!stored) throw new Error(`${ref} has no report (npm run model:report -- ${ref} first)`);
  return stored;
}

const percent = (value: number | undefined, digits = 2) => (value === undefined ? '-' : `${(value * 100).toFixed(digits)}%`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n') + '\n';
}

function summary(report: EvaluationReport, before: EvaluationReport | null): string {
  const { calibration } = report;
  const head =
    `${report.model.name}@${report.model.version}: temperature ${calibration.temperature.toFixed(3)} fitted on ${calibration.fitted_on}; ` +
    `MNIST test ECE ${percent(calibration.ece_before)} uncalibrated, ${percent(calibration.ece_after)} calibrated\n`;
  if (!before) {
    // refused: images the preprocessing rejected (a 422 from the API), counted as errors.
    const rows = [['dataset', 'images', 'accuracy', 'error rate', 'ECE', 'refused']];
    for (const [dataset, m] of Object.entries(report.datasets)) rows.push([dataset, String(m.count), percent(m.accuracy), percent(m.error_rate), percent(m.ece), m.rejected === undefined ? '-' : String(m.rejected)]);
    return head + table(rows);
  }
  const rows = [['dataset', 'images', 'accuracy before', 'after', 'error before', 'after', 'error ratio', 'ECE before', 'after']];
  for (const { dataset, before: b, after: a, error_ratio } of compareReports(before, report)) {
    rows.push([
      dataset,
      String(a?.count ?? b?.count ?? 0),
      percent(b?.accuracy),
      percent(a?.accuracy),
      percent(b?.error_rate),
      percent(a?.error_rate),
      error_ratio === null ? '-' : error_ratio.toFixed(2),
      percent(b?.ece),
      percent(a?.ece),
    ]);
  }
  const versus = `before: ${before.model.name}@${before.model.version} (report of ${before.created_at}); after: ${report.model.name}@${report.model.version}; error ratio = after / before (0.50: errors halved)\n`;
  return head + versus + table(rows);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

async function main(): Promise<void> {
  const ref = positionals[0] ?? config.DEFAULT_MODEL;
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive integer');
  const kind = values.engine as EngineKind;
  if (!['auto', 'onnx', 'tfjs'].includes(kind)) throw new Error('--engine must be auto, onnx or tfjs');
  const dir = await modelDirOf(ref);
  const metadata = await readModelMetadata(dir);
  const model = { name: metadata.name, version: metadata.version };

  const redis = await connectRedisIfReachable({ url: config.REDIS_URL, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS, connectionName: 'digitq-model-report' }, log, 'the report goes to the version folder only, without held-back feedback');
  const engine = await createEngine({ kind, threads: availableParallelism(), tfjsBackend: (await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference)).label }, dir);
  try {
    const registry = redis ? new ModelRegistry(redis, config.QUEUE_PREFIX, config.MODELS_DIR) : null;
    const before = values.compare ? await loadReport(values.compare, registry) : null;
    log.info({ model: `${model.name}@${model.version}`, engine: engine.describe() }, 'model loaded');
    const classify: Classify = (pixels) => engine.predict(pixels);

    const started = performance.now();
    const suite = await buildRobustnessSuite({ dataDir: config.DATA_DIR, count });
    log.info({ sets: suite.length, digits: count, seconds: Math.round((performance.now() - started) / 1000) }, 'robustness suite ready');
    const calibration = calibrationSlice(metadata, await loadMnist(config.DATA_DIR, 'train'));
    const feedback = redis ? await new FeedbackStore(redis, config.QUEUE_PREFIX, { maxPerOwner: config.FEEDBACK_MAX_PER_OWNER, dir: config.FEEDBACK_DIR }).dataset({ heldback: true }) : null;
    if (feedback) log.info({ images: feedback.count }, `held-back feedback${feedback.count === 0 ? ': none, so no ' + FEEDBACK_HELDBACK_DATASET + ' entry' : ''}`);

    const computed = await evaluateVersion({
      model,
      classify,
      calibration: { fitted_on: calibration.fittedOn, images: labelledImagesOf(calibration.set) },
      mnistTest: labelledImagesOf(await loadMnist(config.DATA_DIR, 'test')),
      suite,
      feedback: feedback ? labelledImagesOf(feedback) : null,
    });
    // A promotion decision and shadow figures belong to the version, not to this run of the metrics: keep them.
    const previous = existsSync(join(dir, REPORT_JSON)) ? evaluationReportSchema.safeParse(JSON.parse(await readFile(join(dir, REPORT_JSON), 'utf8'))) : null;
    const report: EvaluationReport = {
      ...computed,
      ...(previous?.success && previous.data.promotion ? { promotion: previous.data.promotion } : {}),
      ...(previous?.success && previous.data.shadow ? { shadow: previous.data.shadow } : {}),
    };
    log.info({ seconds: Math.round((performance.now() - started) / 1000) }, 'report computed');

    await writeAtomically(join(dir, REPORT_JSON), JSON.stringify(report, null, 2) + '\n');
    const registered = registry ? await registry.get(model.name, model.version) : null;
    if (registry && registered) await registry.saveReport(report);
    else if (registry) log.warn(`${model.name}@${model.version} is not registered; a worker registers it, with its ${REPORT_JSON}, when it starts`);
    log.info({ file: join(dir, REPORT_JSON), registry: Boolean(registered) }, 'report written');

    if (values.svg) {
      await mkdir(values.svg, { recursive: true });
      const compareTo = before ? { compareTo: before } : {};
      await writeFile(join(values.svg, 'confusion.svg'), renderConfusionSvg(report));
      await writeFile(join(values.svg, 'reliability.svg'), renderReliabilitySvg(report, compareTo));
      await writeFile(join(values.svg, 'robustness.svg'), renderRobustnessSvg(report, compareTo));
      log.info({ dir: values.svg }, 'charts written');
    }
    process.stdout.write(summary(report, before));
  } finally {
    await engine.dispose();
    redis?.disconnect();
  }
}

exitOnError(main(), log);
