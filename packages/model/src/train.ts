/**
 * The training loop: seeded shuffling and augmentation, a warm-up + cosine
 * learning-rate schedule, per-batch progress, cancellation at batch
 * boundaries, and a checkpoint after every epoch from which a stopped run
 * resumes exactly where it left off.
 */
import * as tf from '@tensorflow/tfjs';
import { sliceDataset, type DigitDataset } from '@digitq/datasets';
import { buildModel, type ArchitectureName } from './architecture.ts';
import { augmentBatch, SeededRandom, type AugmentOptions } from './augment.ts';
import { datasetBatch } from './tensors.ts';
import { evaluateModel } from './evaluate.ts';
import { readCheckpoint, writeCheckpoint, type CheckpointState } from './storage/checkpoint.ts';

export interface TrainOptions {
  architecture: ArchitectureName;
  epochs: number;
  batchSize: number;
  /** Peak learning rate (Adam), reached after warm-up, then cosine-decayed to 1% of it. */
  learningRate: number;
  warmupEpochs: number;
  /** null trains on the images as they are. */
  augment: AugmentOptions | null;
  /** Fraction of the training set held out for validation (taken from its end). */
  validationSplit: number;
  seed: number;
}

export const DEFAULT_TRAIN_OPTIONS: Omit<TrainOptions, 'augment'> = {
  architecture: 'digitnet-bn',
  epochs: 12,
  batchSize: 64,
  learningRate: 3e-3,
  warmupEpochs: 0.5,
  validationSplit: 0.05,
  seed: 1,
};

export interface BatchProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  learningRate: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  val_loss: number | null;
  val_accuracy: number | null;
  /** Accuracy on the test set, when one was given; reported, never used to pick a model. */
  test_accuracy: number | null;
  learning_rate: number;
  seconds: number;
  images_per_s: number;
}

export interface TrainHooks {
  onBatch?: (progress: BatchProgress) => void;
  onEpoch?: (record: EpochRecord) => void | Promise<void>;
  /** Checked between batches; an aborted run throws TrainingCanceledError and writes nothing further. */
  signal?: AbortSignal;
  /** Written after every epoch; a later call with `resume: true` continues from it. */
  checkpointDir?: string;
  resume?: boolean;
  /** Evaluated after every epoch for the history only. */
  testSet?: DigitDataset;
  /**
   * Warm start (fine-tuning): train these weights instead of a freshly built
   * `options.architecture`. Ignored when resuming, since the checkpoint holds
   * the weights reached since. The result's model is this same object, trained.
   */
  initialModel?: tf.LayersModel;
  /**
   * Degrades an MNIST digit (784 bytes) into a preprocessed input, or null to keep it: required when
   * `augment.degradeProbability` > 0. @digitq/imaging's degradeForTraining (this package does not import imaging).
   */
  degrade?: (digit: Uint8Array, random: () => number) => Float32Array | null;
}

export interface TrainResult {
  model: tf.LayersModel;
  history: EpochRecord[];
  options: TrainOptions;
  seconds: number;
}

export class TrainingCanceledError extends Error {
  constructor() {
    super('training was canceled');
    this.name = 'TrainingCanceledError';
  }
}

const MIN_LR_FRACTION = 0.01;

/** Linear warm-up to the peak, then cosine decay to MIN_LR_FRACTION of it; `progress` is in epochs. */
export function learningRateAt(progress: number, options: Pick<TrainOptions, 'learningRate' | 'warmupEpochs' | 'epochs'>): number {
  const peak = options.learningRate;
  if (progress < options.warmupEpochs) return peak * Math.max(0.05, progress / options.warmupEpochs);
  const span = Math.max(1e-9, options.epochs - options.warmupEpochs);
  const t = Math.min(1, (progress - options.warmupEpochs) / span);
  return peak * (MIN_LR_FRACTION + (1 - MIN_LR_FRACTION) * 0.5 * (1 + Math.cos(Math.PI * t)));
}

function shuffledOrder(count: number, rand: SeededRandom): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand.next() * (i + 1));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
  return order;
}

function compile(model: tf.LayersModel, learningRate: number): tf.AdamOptimizer {
  const optimizer = tf.train.adam(learningRate);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return optimizer;
}

/** Adam reads its rate on every step; tfjs exposes no setter. */
function setLearningRate(optimizer: tf.AdamOptimizer, value: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = value;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function trainModel(dataset: DigitDataset, options: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const validationCount = Math.round(dataset.count * options.validationSplit);
  const trainSet = sliceDataset(dataset, 0, dataset.count - validationCount, `${dataset.name}-train`);
  const validationSet = validationCount > 0 ? sliceDataset(dataset, trainSet.count, dataset.count, `${dataset.name}-val`) : null;
  const batches = Math.ceil(trainSet.count / options.batchSize);

  let model: tf.LayersModel;
  let optimizer: tf.AdamOptimizer;
  let history: EpochRecord[] = [];
  let startEpoch = 0;
  let rngState = options.seed;
  let elapsedBefore = 0;

  const resumed: CheckpointState | null = hooks.resume && hooks.checkpointDir ? await readCheckpoint(hooks.checkpointDir) : null;
  if (resumed) {
    model = resumed.model;
    optimizer = compile(model, options.learningRate);
    await optimizer.setWeights(resumed.optimizerWeights);
    resumed.optimizerWeights.forEach((w) => w.tensor.dispose());
    history = resumed.history;
    startEpoch = resumed.epochsDone;
    rngState = resumed.rngState;
    elapsedBefore = resumed.seconds;
  } else {
    model = hooks.initialModel ?? buildModel(options.architecture, options.seed);
    optimizer = compile(model, options.learningRate);
  }

  const rand = new SeededRandom(rngState);
  const degradeProbability = options.augment?.degradeProbability ?? 0;
  if (degradeProbability > 0 && !hooks.degrade) throw new RangeError('augment.degradeProbability needs a degrade hook (@digitq/imaging degradeForTraining)');
  const degrade = hooks.degrade;
  const replace = degradeProbability > 0 && degrade ? (digit: Uint8Array) => (rand.next() < degradeProbability ? degrade(digit, rand.next) : null) : undefined;
  const started = performance.now();
  for (let epoch = startEpoch; epoch < options.epochs; epoch++) {
    const epochStart = performance.now();
    const order = shuffledOrder(trainSet.count, rand);
    let lossSum = 0;
    let accuracySum = 0;
    let seen = 0;
    let learningRate = options.learningRate;
    for (let b = 0; b < batches; b++) {
      if (hooks.signal?.aborted) throw new TrainingCanceledError();
      learningRate = learningRateAt(epoch + b / batches, options);
      setLearningRate(optimizer, learningRate);
      const start = b * options.batchSize;
      const end = Math.min(trainSet.count, start + options.batchSize);
      const { x, y } = datasetBatch(trainSet, start, end, order, replace);
      const input = options.augment ? augmentBatch(x, options.augment, rand) : x;
      const [loss, accuracy] = (await model.trainOnBatch(input, y)) as number[];
      tf.dispose([x, y, input]);
      const n = end - start;
      lossSum += loss! * n;
      accuracySum += accuracy! * n;
      seen += n;
      const seconds = (performance.now() - epochStart) / 1000;
      const imagesPerSecond = seen / seconds;
      const remainingImages = (options.epochs - epoch - 1) * trainSet.count + (trainSet.count - seen);
      hooks.onBatch?.({
        epoch: epoch + 1,
        epochs: options.epochs,
        batch: b + 1,
        batches,
        loss: lossSum / seen,
        accuracy: accuracySum / seen,
        learningRate,
        imagesPerSecond,
        etaSeconds: remainingImages / imagesPerSecond,
      });
      // Lets timers (lock renewal, progress throttles, signals) run between batches.
      await yieldToEventLoop();
    }
    const trainSeconds = (performance.now() - epochStart) / 1000;
    const validation = validationSet ? await evaluateModel(model, validationSet) : null;
    const test = hooks.testSet ? await evaluateModel(model, hooks.testSet) : null;
    const record: EpochRecord = {
      epoch: epoch + 1,
      loss: lossSum / seen,
      accuracy: accuracySum / seen,
      val_loss: validation?.loss ?? null,
      val_accuracy: validation?.accuracy ?? null,
      test_accuracy: test?.accuracy ?? null,
      learning_rate: learningRate,
      seconds: trainSeconds,
      images_per_s: seen / trainSeconds,
    };
    history.push(record);
    if (hooks.checkpointDir) {
      await writeCheckpoint(hooks.checkpointDir, {
        model,
        optimizer,
        history,
        epochsDone: epoch + 1,
        rngState: rand.state,
        seconds: elapsedBefore + (performance.now() - started) / 1000,
        options,
      });
    }
    await hooks.onEpoch?.(record);
  }
  return { model, history, options, seconds: elapsedBefore + (performance.now() - started) / 1000 };
}
