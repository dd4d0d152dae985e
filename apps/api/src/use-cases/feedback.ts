/**
 * Corrections (feedback): a job's owner says which digit an image really
 * was; the image the model saw is kept with that label (FeedbackStore in
 * @digitq/jobs). Owners list and delete their own corrections; the admin
 * lists everyone's and exports them as files the training datasets read:
 * IDX like MNIST (`dataset: idx:<dir>`) or PNGs in label folders
 * (`dataset: folder:<dir>`), each as one zip.
 */
import { gzipSync } from 'node:zlib';
import { zipSync, type Zippable } from 'fflate';
import {
  AppError,
  DIGIT_SIDE,
  PIXELS_PER_IMAGE,
  decodePixels,
  type FeedbackDeleted,
  type FeedbackEntry,
  type FeedbackList,
  type FeedbackRequest,
} from '@digitq/contracts';
import { MNIST_FILES, encodeIdx } from '@digitq/datasets';
import { encodeDigitPng, type StoredFeedback } from '@digitq/jobs';
import type { IntakeDeps } from './deps.ts';

export interface CorrectionInput extends FeedbackRequest {
  owner: string;
  /** The job whose answer is corrected. */
  id: string;
}

/** Entries of an export: the admin's filters. */
export interface FeedbackFilter {
  owner?: string;
  heldback?: boolean;
}

/** A file to send: a zip of the corrections. */
export interface FeedbackExport {
  filename: string;
  content: Uint8Array;
}

/** fflate's "store": the IDX files are gzipped already, and PNGs are compressed. */
const ZIP_STORE = { level: 0 } as const;

/**
 * Stores the correction of image `index` of the owner's job. The job must
 * have succeeded (there is an answer to correct) and have that image. A
 * second correction of the same image replaces the first's label.
 */
export async function correctPrediction(input: CorrectionInput, deps: Pick<IntakeDeps, 'jobs' | 'feedback'>): Promise<{ entry: FeedbackEntry; replaced: boolean }> {
  const found = await deps.jobs.getWithImages(input.id, input.owner);
  if (!found) throw new AppError('JOB_NOT_FOUND', `no job ${input.id}`);
  const { view, images } = found;
  if (view.status !== 'succeeded' || !view.output || !view.model?.version) {
    throw new AppError('JOB_NOT_SUCCEEDED', `job ${input.id} is ${view.status}; only a succeeded job's answers can be corrected`);
  }
  const encoded = images[input.index];
  if (encoded === undefined) {
    const count = images.length;
    throw new AppError('INDEX_OUT_OF_RANGE', `job ${input.id} has ${count} image${count === 1 ? '' : 's'}; index ${input.index} is out of range (0 to ${count - 1})`);
  }
  return deps.feedback.add({
    owner: input.owner,
    job_id: input.id,
    index: input.index,
    label: input.label,
    predicted: view.output.predictions[input.index]?.prediction ?? null,
    model: { name: view.model.name, version: view.model.version },
    pixels: decodePixels(encoded),
  });
}

/** A page of corrections, newest first: the owner's own, or (the admin) anyone's. */
export async function listFeedback(
  input: FeedbackFilter & { cursor?: string; limit: number },
  deps: Pick<IntakeDeps, 'feedback'>,
): Promise<FeedbackList> {
  return deps.feedback.list(input);
}

/** Deletes one of the owner's corrections; FEEDBACK_NOT_FOUND when there is none of theirs with that id. */
export async function deleteFeedback(input: { owner: string; id: string }, deps: Pick<IntakeDeps, 'feedback'>): Promise<FeedbackDeleted> {
  if (!(await deps.feedback.delete(input.owner, input.id))) throw new AppError('FEEDBACK_NOT_FOUND', `no feedback ${input.id}`);
  return { deleted: 1 };
}

/** Deletes every correction of the owner. */
export async function deleteAllFeedback(input: { owner: string }, deps: Pick<IntakeDeps, 'feedback'>): Promise<FeedbackDeleted> {
  return { deleted: await deps.feedback.deleteAll(input.owner) };
}

async function collect(filter: FeedbackFilter, deps: Pick<IntakeDeps, 'feedback'>): Promise<StoredFeedback[]> {
  const entries: StoredFeedback[] = [];
  for await (const entry of deps.feedback.entries(filter)) entries.push(entry);
  return entries;
}

/** One IDX pair (images, labels) as MNIST ships it: gzipped, MNIST's file names. */
function idxPair(files: { images: string; labels: string }, entries: readonly StoredFeedback[]): Zippable {
  const images = new Uint8Array(entries.length * PIXELS_PER_IMAGE);
  entries.forEach((entry, i) => images.set(entry.pixels, i * PIXELS_PER_IMAGE));
  const labels = Uint8Array.from(entries, (entry) => entry.label);
  return {
    [files.images]: gzipSync(encodeIdx([entries.length, DIGIT_SIDE, DIGIT_SIDE], images)),
    [files.labels]: gzipSync(encodeIdx([entries.length], labels)),
  };
}

/**
 * The corrections as MNIST's four files in one zip: the trainable ones as
 * the train split, the held-back ones as the test split (t10k; left out when
 * there are none). Unzipped, `dataset: idx:<dir>` trains on it and tests on
 * the held-back side, as a `feedback` training does.
 */
export async function exportFeedbackIdx(filter: FeedbackFilter, deps: Pick<IntakeDeps, 'feedback'>): Promise<FeedbackExport> {
  const entries = await collect(filter, deps);
  const heldback = entries.filter((entry) => entry.heldback);
  const files: Zippable = {
    ...idxPair(MNIST_FILES.train, entries.filter((entry) => !entry.heldback)),
    ...(heldback.length > 0 ? idxPair(MNIST_FILES.test, heldback) : {}),
  };
  return { filename: 'feedback-idx.zip', content: zipSync(files, ZIP_STORE) };
}

/**
 * The corrections as `<label>/<id>.png` in one zip (28x28 greyscale, white
 * ink on black as the model saw them): unzipped, `dataset: folder:<dir>`
 * trains on it. Held-back entries are included unless filtered out
 * (`heldback=false`); a folder set has no test split.
 */
export async function exportFeedbackPng(filter: FeedbackFilter, deps: Pick<IntakeDeps, 'feedback'>): Promise<FeedbackExport> {
  const folders: Record<string, Record<string, Uint8Array>> = {};
  for (const entry of await collect(filter, deps)) {
    (folders[String(entry.label)] ??= {})[`${entry.id}.png`] = encodeDigitPng(entry.pixels);
  }
  return { filename: 'feedback-png.zip', content: zipSync(folders, ZIP_STORE) };
}
