/**
 * Processes `train-model` jobs: loads the dataset, trains with per-epoch
 * checkpoints (a retry after the worker died resumes from the last one),
 * reports progress through BullMQ, stops at the next batch when canceled,
 * and on success writes the model folder atomically, exports its model.onnx,
 * registers it, and promotes it when configured and not worse than the
 * active version.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  JOB_CANCELED,
  PROGRESS_INTERVAL_MS,
  formatFailedReason,
  trainingJobDataSchema,
  type TrainingJobData,
  type TrainingJobProgress,
  type TrainingResult,
} from '@digitq/contracts';
import { DatasetError, ensureMnist, loadMnist, loadTrainingDataset, parseDatasetSpec, sliceDataset } from '@digitq/datasets';
import type { CancelRequests } from '@digitq/jobs';
import {
  AUGMENT_PRESETS,
  DEFAULT_TRAIN_OPTIONS,
  TrainingCanceledError,
  checkpointPath,
  evaluateModel,
  exportModelFolderOnnx,
  trainModel,
  trainingMetadata,
  verifyOnnxExport,
  writeModelFolder,
  writeOnnxToModelFolder,
  type EpochRecord,
} from '@digitq/model';
import type { ModelRegistry } from '@digitq/registry';

const CANCEL_POLL_MS = 1000;

export interface TrainingProcessorDeps {
  dataDir: string;
  /** Where MNIST is fetched from when DATA_DIR lacks it (MNIST_BASE_URL). */
  mnistBaseUrl: string;
  trainingDataRoot: string;
  runsDir: string;
  modelsDir: string;
  autoPromote: boolean;
  registry: ModelRegistry;
  cancelRequests: CancelRequests;
  decodeImage: (bytes: Uint8Array) => Promise<Float32Array>;
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

export function createTrainingProcessor(deps: TrainingProcessorDeps) {
  return async function processTraining(job: Job<TrainingJobData, TrainingResult>, token?: string, signal?: AbortSignal): Promise<TrainingResult> {
    const parsed = trainingJobDataSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(formatFailedReason('BAD_INPUT', `training request is invalid: ${parsed.error.issues[0]?.message}`));
    const request = parsed.data;
    const canceled = () => new UnrecoverableError(formatFailedReason(JOB_CANCELED, 'canceled at client request'));
    if (await deps.cancelRequests.requestedAt(job.id!)) throw canceled();

    const spec = parseDatasetSpec(request.dataset);
    if (spec.kind !== 'mnist' && !insideRoot(deps.trainingDataRoot, spec.dir)) {
      throw new UnrecoverableError(formatFailedReason('BAD_INPUT', `dataset folder ${spec.dir} is outside TRAINING_DATA_ROOT (${deps.trainingDataRoot})`));
    }
    let data;
    try {
      // MNIST is fetched when a training first needs it (the test set scores every dataset), never at install or start.
      if ((await ensureMnist({ dataDir: deps.dataDir, baseUrl: deps.mnistBaseUrl })) === 'downloaded') {
        deps.log.info({ job: job.id, dir: deps.dataDir }, 'fetched MNIST (checksums verified)');
      }
      data = await loadTrainingDataset(spec, { dataDir: deps.dataDir, decode: deps.decodeImage });
    } catch (error) {
      if (error instanceof DatasetError) throw new UnrecoverableError(formatFailedReason(error.code, error.message));
      throw error;
    }
    const train = request.limit ? sliceDataset(data.train, 0, request.limit) : data.train;
    const test = data.test ?? (await loadMnist(deps.dataDir, 'test'));

    const options = {
      ...DEFAULT_TRAIN_OPTIONS,
      architecture: request.architecture,
      epochs: request.epochs,
      batchSize: request.batch_size,
      learningRate: request.learning_rate,
      augment: request.augment === 'none' ? null : AUGMENT_PRESETS[request.augment],
      validationSplit: request.validation_split,
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
    const report = (progress: TrainingJobProgress['progress'], force = false) => {
      const now = Date.now();
      if (!force && now - lastProgressAt < PROGRESS_INTERVAL_MS) return;
      lastProgressAt = now;
      const payload: TrainingJobProgress = { progress, history: [...history] };
      job.updateProgress(payload).catch((error: unknown) => deps.log.warn({ err: error, job: job.id }, 'could not record training progress'));
      deps.onProgress?.(job, payload);
    };

    deps.log.info({ job: job.id, dataset: request.dataset, train: train.count, epochs: options.epochs, resume }, 'training started');
    let result;
    try {
      result = await trainModel(train, options, {
        checkpointDir: runDir,
        resume,
        testSet: test,
        signal: abort.signal,
        onBatch: (p) =>
          report({
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
    } catch (error) {
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
    }

    try {
      const evaluation = await evaluateModel(result.model, test);
      const name = request.model_name;
      const version = await deps.registry.allocateVersion(name);
      const written = await writeModelFolder({
        modelsDir: deps.modelsDir,
        name,
        version,
        model: result.model,
        history: result.history,
        metadata: trainingMetadata({ options, train, result, evaluation, backend: deps.backendLabel, origin: { job_id: job.id! } }),
      });
      const onnx = await addOnnxExport(written.dir, deps.log, job.id!);
      await deps.registry.publishFolder(written.dir);
      let promoted = false;
      if (deps.autoPromote) {
        const active = await deps.registry.activeVersion(name);
        const activeAccuracy = active ? ((await deps.registry.get(name, active))?.metrics.test_accuracy ?? null) : null;
        if (activeAccuracy === null || evaluation.accuracy >= activeAccuracy) {
          await deps.registry.activate(name, version);
          promoted = true;
        }
      }
      await rm(runDir, { recursive: true, force: true });
      deps.log.info({ job: job.id, model: `${name}@${version}`, test_accuracy: evaluation.accuracy, onnx, promoted }, 'training finished; model registered');
      return { model: { name, version }, test_accuracy: evaluation.accuracy, history: result.history, promoted, worker: deps.workerId };
    } finally {
      result.model.dispose();
    }
  };
}
