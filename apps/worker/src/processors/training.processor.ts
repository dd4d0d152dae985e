/**
 * Processes `train-model` jobs: loads the dataset (MNIST, a folder, the
 * users' corrections alone or mixed into MNIST), starts from scratch or from
 * a registered version's weights (`base`, fine-tuning), trains with per-epoch
 * checkpoints (a retry after the worker died resumes from the last one),
 * reports progress through BullMQ, stops at the next batch when canceled, and
 * on success computes the new version's evaluation report (phase
 * `evaluating`), writes the model folder atomically, exports its model.onnx,
 * registers it with its report, and promotes it when AUTO_PROMOTE is on and
 * the evidence says it is better (promotion.ts).
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  DEFAULT_TRAINING_ARCHITECTURE,
  JOB_CANCELED,
  PROGRESS_INTERVAL_MS,
  formatFailedReason,
  parseModelRef,
  trainingJobDataSchema,
  type EvaluationReport,
  type ModelMetadata,
  type Promotion,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingProgress,
  type TrainingResult,
} from '@digitq/contracts';
import { DatasetError, ensureMnist, loadMnist, loadTrainingDataset, parseDatasetSpec, sliceDataset, type DigitDataset } from '@digitq/datasets';
import { buildRobustnessSuite, type Classify, type RobustnessSet } from '@digitq/evaluation';
import type { CancelRequests } from '@digitq/jobs';
import {
  ARCHITECTURES,
  AUGMENT_PRESETS,
  DEFAULT_TRAIN_OPTIONS,
  TfjsEngine,
  TrainingCanceledError,
  checkpointPath,
  evaluateModel,
  exportModelFolderOnnx,
  loadModelFolder,
  trainModel,
  trainingMetadata,
  verifyOnnxExport,
  writeModelFolder,
  writeOnnxToModelFolder,
  type ArchitectureName,
  type EpochRecord,
  type TrainHooks,
  type TrainResult,
} from '@digitq/model';
import type { ModelRegistry } from '@digitq/registry';
import { decidePromotion, type PromotionDecision } from './promotion.ts';
import { mixFeedback } from './training-data.ts';
import { classifyWithModel, mnistEvaluationOf, promotionScores, promotionScoresOf, reportImageCount, reportOf, type ReportData } from './version-report.ts';

const CANCEL_POLL_MS = 1000;

/** What a training reads of the users' corrections (FeedbackStore in @digitq/jobs). */
export interface FeedbackSource {
  /** Every owner's entries on one side of the split: `heldback: false` to train on, `true` to judge on. */
  dataset(filter: { heldback: boolean }): Promise<DigitDataset>;
}

export interface TrainingProcessorDeps {
  dataDir: string;
  /** Where MNIST is fetched from when DATA_DIR lacks it (MNIST_BASE_URL). */
  mnistBaseUrl: string;
  trainingDataRoot: string;
  runsDir: string;
  modelsDir: string;
  autoPromote: boolean;
  /** PROMOTE_MNIST_TOLERANCE: extra MNIST test errors a candidate better on held-back feedback may make, as a share of the test set (see promotion.ts). */
  promoteMnistTolerance: number;
  /** REPORT_SUITE_COUNT: MNIST test digits per degradation in a new version's robustness figures (0: none). */
  reportSuiteCount: number;
  registry: ModelRegistry;
  feedback: FeedbackSource;
  cancelRequests: CancelRequests;
  decodeImage: (bytes: Uint8Array) => Promise<Float32Array>;
  /** The robustness degradations as training augmentation (augment `robust`): @digitq/imaging's degradeForTraining. */
  degrade: TrainHooks['degrade'];
  backendLabel: string;
  workerId: string;
  log: Logger;
  /**
   * Aborted when the worker shuts down: the training stops at its next batch
   * and goes back to the queue with its epoch checkpoints kept, so it resumes
   * (here after a restart, or from scratch on another machine).
   */
  shutdown: AbortSignal;
  /** Throttled progress and the final outcome, for webhooks. */
  onProgress?: (job: Job<TrainingJobData>, progress: TrainingJobProgress) => void;
}

/**
 * Adds model.onnx (checked against tfjs first) to a new version folder, so
 * ONNX Runtime workers serve it and variants can be derived from it. A
 * failure is logged and leaves the version tfjs-only rather than failing a
 * training that produced good weights: workers on INFERENCE_ENGINE=auto serve
 * a folder without model.onnx with tfjs, and `npm run model:export` can add
 * it later. Returns whether it was added.
 */
async function addOnnxExport(dir: string, log: Logger, jobId: string): Promise<boolean> {
  try {
    const { bytes } = await exportModelFolderOnnx(dir);
    await verifyOnnxExport(dir, bytes);
    await writeOnnxToModelFolder(dir, bytes);
    return true;
  } catch (error) {
    log.error({ err: error, job: jobId, dir }, 'could not export model.onnx for the new version; it is served with tfjs until `npm run model:export` adds one');
    return false;
  }
}

function insideRoot(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const badInput = (message: string) => new UnrecoverableError(formatFailedReason('BAD_INPUT', message));

/** The version a fine-tuning starts from, found in the registry (and fetched to this machine). */
interface BaseVersion {
  ref: string;
  metadata: ModelMetadata;
  dir: string;
}

async function findBase(ref: string, request: TrainingJobData, registry: ModelRegistry): Promise<BaseVersion> {
  const { name, version: pinned } = parseModelRef(ref);
  const version = pinned ?? (await registry.activeVersion(name));
  const metadata = version ? await registry.get(name, version) : null;
  if (!version || !metadata) {
    throw new UnrecoverableError(formatFailedReason('MODEL_NOT_FOUND', pinned ? `base ${ref} is not a registered version` : `base ${ref}: model ${name} has no active version`));
  }
  if (request.architecture && request.architecture !== metadata.architecture) {
    throw badInput(`base ${name}@${version} is ${metadata.architecture}; leave architecture out (or say ${metadata.architecture}) to fine-tune it`);
  }
  return { ref: `${name}@${version}`, metadata, dir: await registry.ensureLocal(name, version) };
}

/** The training set (limited, feedback mixed in) with the validation split that goes with it, and the test set. */
interface TrainingSets {
  train: DigitDataset;
  validationSplit: number;
  test: DigitDataset;
  /** The MNIST test set, which every report scores (the same object as `test` when that is it). */
  mnistTest: DigitDataset;
  /** Said in the log: how the feedback was mixed in. */
  mix?: { feedback: number; repeats: number; share: number };
}

/** How many of the first images a `limit` keeps. */
const limited = (set: DigitDataset, limit: number | undefined) => (limit ? sliceDataset(set, 0, limit) : set);

async function loadTrainingSets(request: TrainingJobData, deps: TrainingProcessorDeps, jobId: string): Promise<TrainingSets> {
  const spec = parseDatasetSpec(request.dataset);
  if ((spec.kind === 'idx' || spec.kind === 'folder') && !insideRoot(deps.trainingDataRoot, spec.dir)) {
    throw badInput(`dataset folder ${spec.dir} is outside TRAINING_DATA_ROOT (${deps.trainingDataRoot})`);
  }
  try {
    // MNIST is fetched when a training first needs it (the test set scores every dataset), never at install or start.
    if ((await ensureMnist({ dataDir: deps.dataDir, baseUrl: deps.mnistBaseUrl })) === 'downloaded') {
      deps.log.info({ job: jobId, dir: deps.dataDir }, 'fetched MNIST (checksums verified)');
    }
    if (spec.kind === 'feedback' || spec.kind === 'mnist+feedback') {
      const feedback = await deps.feedback.dataset({ heldback: false });
      if (feedback.count === 0) throw badInput(`dataset ${request.dataset}: there is no feedback to train on yet (POST /v1/jobs/{id}/feedback adds some; held-back entries are never trained on)`);
      const test = await loadMnist(deps.dataDir, 'test');
      if (spec.kind === 'feedback') return { train: limited(feedback, request.limit), validationSplit: request.validation_split, test, mnistTest: test };
      const mixed = mixFeedback(limited(await loadMnist(deps.dataDir, 'train'), request.limit), feedback, request.validation_split);
      const mix = { feedback: feedback.count, repeats: mixed.repeats, share: mixed.feedbackShare };
      return { train: mixed.dataset, validationSplit: mixed.validationSplit, test, mnistTest: test, mix };
    }
    const data = await loadTrainingDataset(spec, { dataDir: deps.dataDir, decode: deps.decodeImage });
    const mnistTest = spec.kind === 'mnist' && data.test ? data.test : await loadMnist(deps.dataDir, 'test');
    return { train: limited(data.train, request.limit), validationSplit: request.validation_split, test: data.test ?? mnistTest, mnistTest };
  } catch (error) {
    if (error instanceof DatasetError) throw new UnrecoverableError(formatFailedReason(error.code, error.message));
    throw error;
  }
}

/** What the report says of promotion when AUTO_PROMOTE is off. */
const MANUAL_PROMOTION = 'AUTO_PROMOTE is off: activate it with POST /v1/models/{name}/{version}/activate';

export function createTrainingProcessor(deps: TrainingProcessorDeps) {
  return async function processTraining(job: Job<TrainingJobData, TrainingResult>, token?: string, signal?: AbortSignal): Promise<TrainingResult> {
    const parsed = trainingJobDataSchema.safeParse(job.data);
    if (!parsed.success) throw badInput(`training request is invalid: ${parsed.error.issues[0]?.message}`);
    const request = parsed.data;
    const canceled = () => new UnrecoverableError(formatFailedReason(JOB_CANCELED, 'canceled at client request'));
    if (await deps.cancelRequests.requestedAt(job.id!)) throw canceled();

    const base = request.base ? await findBase(request.base, request, deps.registry) : null;
    const { train, validationSplit, test, mnistTest, mix } = await loadTrainingSets(request, deps, job.id!);
    const architecture = base ? base.metadata.architecture : (request.architecture ?? DEFAULT_TRAINING_ARCHITECTURE);

    const options = {
      ...DEFAULT_TRAIN_OPTIONS,
      // With a base the model is the base's (initialModel); this only names it in checkpoints when it is one we build.
      architecture: (ARCHITECTURES as readonly string[]).includes(architecture) ? (architecture as ArchitectureName) : DEFAULT_TRAIN_OPTIONS.architecture,
      epochs: request.epochs,
      batchSize: request.batch_size,
      learningRate: request.learning_rate,
      augment: request.augment === 'none' ? null : AUGMENT_PRESETS[request.augment],
      validationSplit,
      seed: request.seed,
    };
    const runDir = join(deps.runsDir, job.id!);
    const resume = existsSync(join(checkpointPath(runDir), 'state.json'));

    const abort = new AbortController();
    signal?.addEventListener('abort', () => abort.abort());
    deps.shutdown.addEventListener('abort', () => abort.abort());
    const cancelPoll = setInterval(() => {
      deps.cancelRequests.requestedAt(job.id!).then(
        (at) => at && abort.abort(),
        (error: unknown) => deps.log.warn({ err: error, job: job.id }, 'could not check for a cancel request'),
      );
    }, CANCEL_POLL_MS);

    const history: EpochRecord[] = [];
    let lastProgressAt = 0;
    let latest: TrainingProgress | null = null;
    const report = (progress: TrainingJobProgress['progress'], force = false) => {
      latest = progress;
      const now = Date.now();
      if (!force && now - lastProgressAt < PROGRESS_INTERVAL_MS) return;
      lastProgressAt = now;
      const payload: TrainingJobProgress = { progress, history: [...history] };
      job.updateProgress(payload).catch((error: unknown) => deps.log.warn({ err: error, job: job.id }, 'could not record training progress'));
      deps.onProgress?.(job, payload);
    };

    deps.log.info({ job: job.id, dataset: request.dataset, base: base?.ref, train: train.count, feedback: mix, epochs: options.epochs, resume }, 'training started');
    // Fine-tuning starts from the base's weights (trainModel ignores them when it resumes a checkpoint, which holds the weights reached since).
    const initialModel = base ? (await loadModelFolder(base.dir)).model : undefined;
    let result: TrainResult | undefined;
    try {
      result = await trainModel(train, options, {
        checkpointDir: runDir,
        resume,
        testSet: test,
        signal: abort.signal,
        initialModel,
        degrade: deps.degrade,
        onBatch: (p) =>
          report({
            phase: 'training',
            epoch: p.epoch,
            epochs: p.epochs,
            batch: p.batch,
            batches: p.batches,
            loss: p.loss,
            accuracy: p.accuracy,
            val_loss: history.at(-1)?.val_loss ?? null,
            val_accuracy: history.at(-1)?.val_accuracy ?? null,
            images_per_s: Math.round(p.imagesPerSecond),
            eta_s: Math.round(p.etaSeconds),
          }),
        onEpoch: (record) => {
          history.push(record);
          report(
            {
              phase: 'training',
              epoch: record.epoch,
              epochs: options.epochs,
              batch: 0,
              batches: 0,
              loss: record.loss,
              accuracy: record.accuracy,
              val_loss: record.val_loss,
              val_accuracy: record.val_accuracy,
              images_per_s: Math.round(record.images_per_s),
              eta_s: null,
            },
            true,
          );
        },
      });
      if (initialModel && result.model !== initialModel) initialModel.dispose();

      // The evaluation reports its progress by images classified, and stops at the next batch when canceled, as training does.
      const evaluating = { images: 0, total: 0 };
      const reportEvaluating = (force = false) => {
        const last = latest ?? { epoch: options.epochs, epochs: options.epochs, batch: 0, batches: 0, loss: null, accuracy: null, val_loss: null, val_accuracy: null, images_per_s: null, eta_s: null };
        // `evaluated` once the images to classify are known (the robustness suite may take a while to load or build first).
        report({ ...last, phase: 'evaluating', ...(evaluating.total > 0 && { evaluated: { ...evaluating } }) }, force);
      };
      const counted = (classify: Classify): Classify => async (pixels, n) => {
        if (abort.signal.aborted) throw new TrainingCanceledError();
        const probabilities = await classify(pixels, n);
        evaluating.images += n;
        reportEvaluating();
        return probabilities;
      };
      reportEvaluating(true);
      const trained = result.model;
      const validationCount = Math.round(train.count * validationSplit);
      const data: ReportData = {
        mnistTest,
        suite: deps.reportSuiteCount > 0 ? await buildRobustnessSuite({ dataDir: deps.dataDir, count: deps.reportSuiteCount }) : ([] as RobustnessSet[]),
        heldback: await deps.feedback.dataset({ heldback: true }),
        validation: validationCount > 0 ? sliceDataset(train, train.count - validationCount, train.count, `${train.name} validation split`) : null,
      };
      const active = deps.autoPromote ? await deps.registry.activeVersion(request.model_name) : null;
      evaluating.total = reportImageCount(data) + (active ? data.mnistTest.count + data.heldback.count : 0);
      reportEvaluating(true);

      const name = request.model_name;
      const version = await deps.registry.allocateVersion(name);
      const versionReport = await reportOf({ name, version }, counted(classifyWithModel(trained)), data);
      // The metadata's test metrics: the report's when the test set is MNIST's, else the dataset's own test split.
      const evaluation = test === mnistTest ? mnistEvaluationOf(versionReport) : await evaluateModel(trained, test);
      const decision = deps.autoPromote ? await judge(versionReport, active ? { name, version: active } : null, data, counted) : null;
      const promotion: Promotion = {
        candidate_of: active ? `${name}@${active}` : null,
        promoted: decision?.promoted ?? false,
        reasons: decision?.reasons ?? [MANUAL_PROMOTION],
        compared_to: active ? { name, version: active } : null,
      };
      const fullReport: EvaluationReport = { ...versionReport, promotion };
      clearInterval(cancelPoll);

      const metadata = trainingMetadata({ options, train, result, evaluation, backend: deps.backendLabel, origin: { job_id: job.id!, ...(base && { base: base.ref }) } });
      // A fine-tuned version is the base's architecture, whatever name the options carry.
      const written = await writeModelFolder({ modelsDir: deps.modelsDir, name, version, model: trained, history: result.history, metadata: { ...metadata, architecture } });
      const onnx = await addOnnxExport(written.dir, deps.log, job.id!);
      await deps.registry.publishFolder(written.dir);
      await deps.registry.saveReport(fullReport);
      if (promotion.promoted) await deps.registry.activate(name, version);
      await rm(runDir, { recursive: true, force: true });
      deps.log.info(
        { job: job.id, model: `${name}@${version}`, test_accuracy: evaluation.accuracy, onnx, promoted: promotion.promoted, reasons: promotion.reasons },
        'training finished; model registered with its report',
      );
      return {
        model: { name, version },
        test_accuracy: evaluation.accuracy,
        history: result.history,
        promoted: promotion.promoted,
        promotion_reasons: promotion.reasons,
        worker: deps.workerId,
      };
    } catch (error) {
      if (!result) initialModel?.dispose();
      if (error instanceof TrainingCanceledError && deps.shutdown.aborted && !(await deps.cancelRequests.requestedAt(job.id!))) {
        deps.log.info({ job: job.id, epochs_done: history.length }, 'worker shutting down: training goes back to the queue and resumes from its last epoch');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      if (error instanceof TrainingCanceledError) {
        // Nothing half-written is kept: the checkpoints go, and no model folder was started.
        await rm(runDir, { recursive: true, force: true });
        throw canceled();
      }
      throw error;
    } finally {
      clearInterval(cancelPoll);
      result?.model.dispose();
    }
  };

  /** The candidate against the active version, both scored on the same images now (AUTO_PROMOTE). */
  async function judge(
    candidate: EvaluationReport,
    active: { name: string; version: string } | null,
    data: ReportData,
    counted: (classify: Classify) => Classify,
  ): Promise<PromotionDecision> {
    if (!active) return decidePromotion({ candidate: promotionScoresOf(candidate), active: null, mnistTolerance: deps.promoteMnistTolerance });
    const engine = await TfjsEngine.load(await deps.registry.ensureLocal(active.name, active.version), { backendLabel: deps.backendLabel });
    try {
      const scores = await promotionScores(counted((pixels) => engine.predict(pixels)), data.mnistTest, data.heldback);
      return decidePromotion({
        candidate: promotionScoresOf(candidate),
        active: { ref: `${active.name}@${active.version}`, scores },
        mnistTolerance: deps.promoteMnistTolerance,
      });
    } finally {
      await engine.dispose();
    }
  }
}
