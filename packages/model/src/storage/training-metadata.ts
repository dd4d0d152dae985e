import type { ModelMetadata } from '@digitq/contracts';
import type { DigitDataset } from '@digitq/datasets';
import type { Evaluation } from '../evaluate.ts';
import type { TrainOptions, TrainResult } from '../train.ts';

export interface TrainingMetadataInput {
  options: TrainOptions;
  /** The dataset trained on, validation split included. */
  train: DigitDataset;
  result: TrainResult;
  evaluation: Evaluation;
  backend: string;
  /** Where the run came from: the CLI command line or the training job's id. */
  origin: ({ command: string } | { job_id: string }) & { base?: string };
}

/** The metadata.json of a finished run, the same whether the CLI or a training job trained it. */
export function trainingMetadata(input: TrainingMetadataInput): Omit<ModelMetadata, 'name' | 'version' | 'files' | 'input' | 'parameters'> {
  const { options, train, result, evaluation } = input;
  const validationCount = Math.round(train.count * options.validationSplit);
  return {
    architecture: options.architecture,
    created_at: new Date().toISOString(),
    dataset: { name: train.name, train_count: train.count - validationCount, validation_count: validationCount },
    training: {
      epochs: options.epochs,
      batch_size: options.batchSize,
      learning_rate: options.learningRate,
      augment: options.augment,
      seed: options.seed,
      seconds: Math.round(result.seconds),
      backend: input.backend,
      ...input.origin,
    },
    metrics: {
      test_accuracy: evaluation.accuracy,
      test_count: evaluation.count,
      test_loss: evaluation.loss,
      val_accuracy: result.history.at(-1)?.val_accuracy ?? null,
    },
  };
}
