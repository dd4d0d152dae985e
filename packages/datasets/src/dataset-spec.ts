/**
 * The one string a user gives to say what to train on (`--dataset`, and the
 * training-job API): `mnist`, `idx:<dir>`, `folder:<dir>`, `feedback` (the
 * users' corrections) or `mnist+feedback` (corrections mixed into MNIST so a
 * fine-tuned model does not forget it).
 */
import { DatasetError, DatasetNotFoundError } from './errors.ts';
import { MNIST_PIXELS, MNIST_SIDE, type DigitDataset } from './digit-dataset.ts';
import { loadIdxDigits, loadMnist } from './idx-digits.ts';
import { loadDigitFolder, type DecodeDigit } from './folder-digits.ts';

export type DatasetSpec =
  | { readonly kind: 'mnist' }
  /** Any IDX digit set laid out like MNIST or EMNIST (see findIdxPair). */
  | { readonly kind: 'idx'; readonly dir: string }
  /** `<dir>/<0-9>/*.{png,jpg,jpeg,webp}`; has no test split. */
  | { readonly kind: 'folder'; readonly dir: string }
  /** The corrections users sent (POST /v1/jobs/:id/feedback): trains on the trainable side, tests on the held-back side. */
  | { readonly kind: 'feedback' }
  /** MNIST's training set with the trainable corrections; tested on MNIST's test set. */
  | { readonly kind: 'mnist+feedback' };

export const DATASET_SPEC_FORMS = ['mnist', 'idx:<dir>', 'folder:<dir>', 'feedback', 'mnist+feedback'] as const;

/** Specs that name no folder. */
const NAMED_SPECS = ['mnist', 'feedback', 'mnist+feedback'] as const;

function badSpec(spec: string, why: string): DatasetError {
  return new DatasetError('DATASET_BAD_SPEC', `invalid dataset ${JSON.stringify(spec)}: ${why}; expected one of ${DATASET_SPEC_FORMS.join(', ')}`);
}

export function parseDatasetSpec(spec: string): DatasetSpec {
  const named = NAMED_SPECS.find((name) => name === spec);
  if (named !== undefined) return { kind: named };
  const colon = spec.indexOf(':');
  if (colon < 0) throw badSpec(spec, 'unknown dataset');
  const kind = spec.slice(0, colon);
  const dir = spec.slice(colon + 1);
  if (kind !== 'idx' && kind !== 'folder') throw badSpec(spec, `unknown kind ${JSON.stringify(kind)}`);
  if (dir.trim() === '') throw badSpec(spec, `${kind}: needs a directory`);
  return { kind, dir };
}

export function formatDatasetSpec(spec: DatasetSpec): string {
  return 'dir' in spec ? `${spec.kind}:${spec.dir}` : spec.kind;
}

/** The folder a spec reads (to check it lies where training data may), or null for one that names none. */
export function datasetSpecDir(spec: DatasetSpec): string | null {
  return 'dir' in spec ? spec.dir : null;
}

/**
 * Whether a spec trains on the users' corrections. Those live in Redis
 * (FeedbackStore in @digitq/jobs, whose `dataset({ heldback })` gives either
 * side of their split as a DigitDataset); the training worker reads and
 * mixes them (apps/worker training-data.ts), not loadTrainingDataset.
 */
export function usesFeedback(spec: DatasetSpec): boolean {
  return spec.kind === 'feedback' || spec.kind === 'mnist+feedback';
}

/** Sets one after another, as one set named `name` (all must be 28x28). */
export function concatDatasets(name: string, sets: readonly DigitDataset[]): DigitDataset {
  const count = sets.reduce((sum, set) => sum + set.count, 0);
  const images = new Uint8Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const set of sets) {
    assertDigitShape(set);
    images.set(set.images.subarray(0, set.count * MNIST_PIXELS), at * MNIST_PIXELS);
    labels.set(set.labels.subarray(0, set.count), at);
    at += set.count;
  }
  return { name, count, rows: MNIST_SIDE, cols: MNIST_SIDE, images, labels };
}

export interface LoadTrainingDatasetOptions {
  /** Directory holding the four MNIST files (Config.DATA_DIR); used by `mnist`. */
  dataDir: string;
  /** Required by `folder:`; the imaging package provides one. */
  decode?: DecodeDigit;
  /** `folder:` only: skip undecodable files (reported in `warnings`) instead of failing. Default false. */
  skipBadFiles?: boolean;
}

export interface TrainingData {
  readonly train: DigitDataset;
  /** Null when the source has no test split (folders, or an IDX directory with train files only). */
  readonly test: DigitDataset | null;
  /** Things the caller should show the user: ignored entries, skipped files. */
  readonly warnings: readonly string[];
}

/** The model's input is fixed at 28x28; a generic IDX set may be any size. */
function assertDigitShape(set: DigitDataset): DigitDataset {
  if (set.rows !== MNIST_SIDE || set.cols !== MNIST_SIDE) {
    throw new DatasetError('IDX_BAD_SHAPE', `${set.name}: images are ${set.rows}x${set.cols}, the model needs ${MNIST_SIDE}x${MNIST_SIDE}`);
  }
  return set;
}

async function loadIdxTest(dir: string): Promise<DigitDataset | null> {
  try {
    return await loadIdxDigits(dir, 'test');
  } catch (error) {
    if (error instanceof DatasetNotFoundError) return null;
    throw error;
  }
}

export async function loadTrainingDataset(spec: string | DatasetSpec, options: LoadTrainingDatasetOptions): Promise<TrainingData> {
  const parsed = typeof spec === 'string' ? parseDatasetSpec(spec) : spec;
  switch (parsed.kind) {
    case 'mnist': {
      const [train, test] = await Promise.all([loadMnist(options.dataDir, 'train'), loadMnist(options.dataDir, 'test')]);
      return { train, test, warnings: [] };
    }
    case 'idx': {
      const [train, test] = await Promise.all([loadIdxDigits(parsed.dir, 'train'), loadIdxTest(parsed.dir)]);
      return {
        train: assertDigitShape(train),
        test: test && assertDigitShape(test),
        warnings: test ? [] : [`${parsed.dir}: no test split found, train only`],
      };
    }
    case 'feedback':
    case 'mnist+feedback':
      throw new DatasetError('FEEDBACK_REQUIRED', `${parsed.kind}: the corrections are read from the feedback store (FeedbackStore.dataset in @digitq/jobs), not from files`);
    case 'folder': {
      if (!options.decode) {
        throw new DatasetError('DECODER_REQUIRED', `${formatDatasetSpec(parsed)}: loading image folders needs a decode function (from @digitq/imaging)`);
      }
      const folder = await loadDigitFolder(parsed.dir, { decode: options.decode, skipBadFiles: options.skipBadFiles ?? false });
      const warnings = [
        ...folder.ignored.map((entry) => `${parsed.dir}: ignored ${entry} (not <0-9>/<image>)`),
        ...folder.skipped.map((s) => `skipped ${s.reason}`),
      ];
      return { train: folder.dataset, test: null, warnings };
    }
  }
}

