/**
 * The robustness suite: the first `count` MNIST test digits degraded the way
 * real inputs differ from MNIST (ROBUSTNESS_DEGRADATIONS in @digitq/imaging:
 * low-resolution scans, binarisation, digits that fill their box, thick and
 * thin pens), each rendered as a PNG of dark ink on white paper and sent
 * through the API's own preprocessing (preprocessDigitImage), so a figure
 * here is what a user uploading such an image would get.
 *
 * Building it takes tens of seconds (a PNG encode and a full preprocessing
 * per image), so the result is cached as one binary file under the data
 * folder. The cache key hashes DEGRADATIONS_VERSION, the count, the
 * degradation ids and a fingerprint: the preprocessed bytes of the first few
 * digits under every degradation, computed afresh each time. A change to the
 * degradations or the preprocessing changes the fingerprint, so a stale suite
 * is never read even if nobody bumps the version.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PIXELS_PER_IMAGE, packModelBatch } from '@digitq/contracts';
import { loadMnist, sliceDataset, type DigitDataset } from '@digitq/datasets';
import { DEGRADATIONS_VERSION, ROBUSTNESS_DEGRADATIONS, encodeGreyPng, preprocessDigitImages, type Degradation } from '@digitq/imaging';

/** MNIST test images in the suite when the caller names no count: a figure per degradation within ±0.5% or so. */
export const DEFAULT_SUITE_COUNT = 2000;
/** Digits per degradation whose preprocessed bytes make the cache fingerprint. */
const FINGERPRINT_DIGITS = 3;
/** Images preprocessed at a time (large ones go to sharp, on libuv's thread pool). */
const BUILD_CHUNK = 64;
/** Folder of the cached suites, under the data folder. */
export const SUITE_CACHE_FOLDER = 'robustness-suite';
const FILE_MAGIC = 'digitq-robustness-suite-1';

/** One degradation's images as the model sees them. */
export interface RobustnessSet {
  readonly id: string;
  readonly label: string;
  readonly count: number;
  /** count x 784 values in [0, 1], as a worker feeds the model (the preprocessed bytes / 255). */
  readonly pixels: Float32Array;
  readonly labels: Uint8Array;
  /**
   * Images the preprocessing refused (e.g. no ink left after binarising). The
   * API would answer 422 for them; here they stay in the set as a blank frame,
   * so whatever the model says about nothing counts, and almost always counts as wrong.
   */
  readonly rejected: number;
}

export interface BuildRobustnessSuiteOptions {
  /** Where MNIST is (DATA_DIR). */
  dataDir: string;
  /** The first `count` test digits (default DEFAULT_SUITE_COUNT, at most 10,000). */
  count?: number;
  /** Default: <dataDir>/robustness-suite. */
  cacheDir?: string;
  /** Default: ROBUSTNESS_DEGRADATIONS. */
  degradations?: readonly Degradation[];
}

interface SuiteHeader {
  magic: string;
  key: string;
  count: number;
  sets: { id: string; label: string; rejected: number }[];
}

/** Each degradation of `digits` through PNG and the real preprocessing: the 784 bytes per image and how many were refused. */
async function degradeAll(degradation: Degradation, digits: DigitDataset): Promise<{ bytes: Uint8Array; rejected: number }> {
  const bytes = new Uint8Array(digits.count * PIXELS_PER_IMAGE);
  let rejected = 0;
  for (let start = 0; start < digits.count; start += BUILD_CHUNK) {
    const end = Math.min(digits.count, start + BUILD_CHUNK);
    const pngs = Array.from({ length: end - start }, (_, k) => {
      const i = start + k;
      return encodeGreyPng(degradation.apply(digits.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE)));
    });
    const results = await preprocessDigitImages(pngs);
    results.forEach((result, k) => {
      if (result.ok) bytes.set(result.digit.pixelBytes, (start + k) * PIXELS_PER_IMAGE);
      else rejected++;
    });
  }
  return { bytes, rejected };
}

async function cacheKey(degradations: readonly Degradation[], digits: DigitDataset): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify({ version: DEGRADATIONS_VERSION, count: digits.count, ids: degradations.map((d) => d.id) }));
  const first = sliceDataset(digits, 0, FINGERPRINT_DIGITS);
  for (const degradation of degradations) hash.update((await degradeAll(degradation, first)).bytes);
  return hash.digest('hex').slice(0, 16);
}

function toSet(header: SuiteHeader['sets'][number], bytes: Uint8Array, labels: Uint8Array, count: number): RobustnessSet {
  const images = Array.from({ length: count }, (_, i) => bytes.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE));
  return { ...header, count, pixels: packModelBatch(images), labels };
}

/** File layout: uint32 LE header length, the JSON header, the labels (count bytes), then count x 784 bytes per set in header order. */
function encodeSuite(header: SuiteHeader, labels: Uint8Array, sets: readonly Uint8Array[]): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([length, json, labels, ...sets]);
}

function decodeSuite(file: Buffer, key: string): RobustnessSet[] | null {
  if (file.length < 4) return null;
  const headerLength = file.readUInt32LE(0);
  let header: SuiteHeader;
  try {
    header = JSON.parse(file.subarray(4, 4 + headerLength).toString('utf8')) as SuiteHeader;
  } catch {
    return null;
  }
  const { count } = header;
  if (header.magic !== FILE_MAGIC || header.key !== key || file.length !== 4 + headerLength + count + header.sets.length * count * PIXELS_PER_IMAGE) return null;
  const labels = new Uint8Array(file.subarray(4 + headerLength, 4 + headerLength + count));
  const imagesStart = 4 + headerLength + count;
  return header.sets.map((set, s) => {
    const from = imagesStart + s * count * PIXELS_PER_IMAGE;
    return toSet(set, file.subarray(from, from + count * PIXELS_PER_IMAGE), labels, count);
  });
}

async function suiteDigits(options: BuildRobustnessSuiteOptions): Promise<DigitDataset> {
  const count = options.count ?? DEFAULT_SUITE_COUNT;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`the suite needs a whole number of digits (at least 1), got ${count}`);
  const test = await loadMnist(options.dataDir, 'test');
  return sliceDataset(test, 0, count, 'mnist-test');
}

/**
 * The suite, one set per degradation in ROBUSTNESS_DEGRADATIONS order, read
 * from the cache when it matches and built (then cached) otherwise.
 */
export async function buildRobustnessSuite(options: BuildRobustnessSuiteOptions): Promise<RobustnessSet[]> {
  const degradations = options.degradations ?? ROBUSTNESS_DEGRADATIONS;
  const digits = await suiteDigits(options);
  const key = await cacheKey(degradations, digits);
  const dir = options.cacheDir ?? join(options.dataDir, SUITE_CACHE_FOLDER);
  const path = join(dir, `suite-${digits.count}-${key}.bin`);
  if (existsSync(path)) {
    const cached = decodeSuite(await readFile(path), key);
    if (cached) return cached;
  }
  const built: { bytes: Uint8Array; rejected: number }[] = [];
  for (const degradation of degradations) built.push(await degradeAll(degradation, digits));
  const header: SuiteHeader = {
    magic: FILE_MAGIC,
    key,
    count: digits.count,
    sets: degradations.map((d, s) => ({ id: d.id, label: d.label, rejected: built[s]!.rejected })),
  };
  const labels = new Uint8Array(digits.labels);
  // Written aside and renamed, so a concurrent reader never sees half a suite. The cache is only a
  // saving: a data folder mounted read-only (CI, a shared dataset) means building it every time.
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(tmp, encodeSuite(header, labels, built.map((b) => b.bytes)));
    await rename(tmp, path);
  } catch {
    // not cached
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
  return header.sets.map((set, s) => toSet(set, built[s]!.bytes, labels, digits.count));
}
