/**
 * Fetches dataset files from a mirror, keeping a file only once its md5 and
 * sha256 both match the table. Each file streams to a temp name in the
 * destination directory and is renamed into place, so an interrupted or
 * corrupted download never leaves something a loader would pick up.
 */
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ChecksumMismatchError, DownloadError } from './errors.ts';
import { DigestAccumulator, MNIST_DOWNLOADS, digestFile, digestsMatch, type KnownFile, type MeasuredDigests } from './checksums.ts';

export type DownloadEvent =
  /** The file is being fetched; total is Content-Length, else the table's size. */
  | { readonly type: 'start'; readonly file: string; readonly url: string; readonly total: number }
  | { readonly type: 'progress'; readonly file: string; readonly received: number; readonly total: number }
  | { readonly type: 'done'; readonly file: DownloadedFile };

export interface DownloadOptions {
  /** Directory URL the file names are appended to; a missing trailing slash is added. */
  baseUrl: string;
  /** Created if missing. */
  destDir: string;
  /** Files to fetch and their digests. */
  files: readonly KnownFile[];
  onProgress?: (event: DownloadEvent) => void;
  /** Default: the global fetch. */
  fetchImpl?: typeof fetch;
  signal?: AbortSignal;
}

export interface DownloadedFile extends MeasuredDigests {
  readonly name: string;
  readonly path: string;
  /** `present`: already there with the right digests, not fetched; `replaced`: was there with wrong digests. */
  readonly status: 'downloaded' | 'replaced' | 'present';
}

export interface DownloadResult {
  readonly destDir: string;
  readonly files: readonly DownloadedFile[];
}

function fileUrl(baseUrl: string, name: string): string {
  return new URL(encodeURIComponent(name), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
}

async function existingDigests(path: string): Promise<MeasuredDigests | null> {
  const isFile = await stat(path).then((s) => s.isFile(), () => false);
  return isFile ? digestFile(path) : null;
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici reports every network failure as "fetch failed" and puts the reason in cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

async function fetchToFile(url: string, tempPath: string, known: KnownFile, options: DownloadOptions): Promise<MeasuredDigests> {
  const fetchImpl = options.fetchImpl ?? fetch;
  let response: Response;
  try {
    response = await fetchImpl(url, options.signal ? { signal: options.signal } : {});
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    throw new DownloadError('DOWNLOAD_NETWORK', url, null, `GET ${url} failed: ${errorText(cause)}`, { cause });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new DownloadError('DOWNLOAD_HTTP', url, response.status, `GET ${url}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : known.bytes;
  options.onProgress?.({ type: 'start', file: known.name, url, total });

  const digests = new DigestAccumulator();
  const out = await open(tempPath, 'wx');
  const reader = response.body.getReader();
  let received = 0;
  let finished = false;
  try {
    while (!finished) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        if (options.signal?.aborted) throw cause;
        throw new DownloadError('DOWNLOAD_NETWORK', url, response.status, `GET ${url} broke off after ${received} bytes: ${errorText(cause)}`, { cause });
      }
      if (chunk.done) {
        finished = true;
      } else {
        digests.update(chunk.value);
        await out.write(chunk.value);
        received += chunk.value.length;
        options.onProgress?.({ type: 'progress', file: known.name, received, total });
      }
    }
  } finally {
    // A failed write leaves the body unread; cancelling frees the connection.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
    await out.close();
  }
  return digests.digest();
}

async function downloadOne(known: KnownFile, options: DownloadOptions): Promise<DownloadedFile> {
  const path = join(options.destDir, known.name);
  const existing = await existingDigests(path);
  if (existing && digestsMatch(known, existing)) return { name: known.name, path, status: 'present', ...existing };

  const url = fileUrl(options.baseUrl, known.name);
  // Same directory as the target so the final rename cannot cross filesystems; dot-prefixed so loaders skip it.
  const tempPath = join(options.destDir, `.${known.name}.${randomBytes(6).toString('hex')}.part`);
  try {
    const actual = await fetchToFile(url, tempPath, known, options);
    if (!digestsMatch(known, actual)) throw new ChecksumMismatchError(known.name, { md5: known.md5, sha256: known.sha256 }, actual);
    await rename(tempPath, path);
    return { name: known.name, path, status: existing ? 'replaced' : 'downloaded', ...actual };
  } finally {
    await rm(tempPath, { force: true });
  }
}

/** Fetches every file of `files` not already present with the right digests, one at a time. */
export async function downloadDataset(options: DownloadOptions): Promise<DownloadResult> {
  await mkdir(options.destDir, { recursive: true });
  const files: DownloadedFile[] = [];
  for (const known of options.files) {
    const file = await downloadOne(known, options);
    options.onProgress?.({ type: 'done', file });
    files.push(file);
  }
  return { destDir: options.destDir, files };
}

/** The four MNIST files; `files` defaults to MNIST_DOWNLOADS. */
export async function downloadMnist(options: Omit<DownloadOptions, 'files'> & { files?: readonly KnownFile[] }): Promise<DownloadResult> {
  return downloadDataset({ ...options, files: options.files ?? MNIST_DOWNLOADS });
}
