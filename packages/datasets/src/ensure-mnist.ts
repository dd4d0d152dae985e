/**
 * MNIST when it is needed, not before: serving never reads it, so nothing
 * fetches it at install or start; training and the test suite call this,
 * which fetches the four files (each kept only if its md5 and sha256 match)
 * into DATA_DIR when they are not there yet.
 */
import { downloadMnist, type DownloadEvent } from './download.ts';
import { DatasetNotFoundError } from './errors.ts';
import { hasMnist } from './idx-digits.ts';

export interface EnsureMnistOptions {
  dataDir: string;
  /** MNIST_BASE_URL. */
  baseUrl: string;
  onProgress?: (event: DownloadEvent) => void;
  fetchImpl?: typeof fetch;
}

/** Resolves 'present' or 'downloaded'; throws DatasetNotFoundError saying what to do when they cannot be fetched. */
export async function ensureMnist(options: EnsureMnistOptions): Promise<'present' | 'downloaded'> {
  if (hasMnist(options.dataDir)) return 'present';
  try {
    await downloadMnist({ destDir: options.dataDir, baseUrl: options.baseUrl, onProgress: options.onProgress, fetchImpl: options.fetchImpl });
    return 'downloaded';
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DatasetNotFoundError(
      `MNIST is not in ${options.dataDir} and could not be fetched from ${options.baseUrl} (${reason}); ` +
        'copy the four MNIST files there, point DATA_DIR at a folder that has them, or set MNIST_BASE_URL to a mirror you can reach',
      [options.dataDir],
    );
  }
}
