/**
 * npm run data:download -- mnist [--dest DIR] [--base-url URL]
 *
 * Fetches the dataset's files into DIR (default DATA_DIR), keeping each only if
 * its md5 and sha256 match the known values, then prints a JSON summary as the
 * last stdout line. Files already present and correct are not fetched again.
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { loadConfig } from '@digitq/config';
import { ChecksumMismatchError, DownloadError, downloadMnist, type DownloadEvent } from '@digitq/datasets';
import { createCliLogger, exitOnError } from './cli-support.ts';

const DATASETS = ['mnist'] as const;
const KILOBYTE = 1024;
const MEGABYTE = KILOBYTE * KILOBYTE;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dest: { type: 'string' },
    'base-url': { type: 'string' },
  },
});

const config = loadConfig();
const log = createCliLogger('download-data', config.LOG_LEVEL);

const size = (bytes: number) => (bytes >= MEGABYTE ? `${(bytes / MEGABYTE).toFixed(2)} MB` : `${(bytes / KILOBYTE).toFixed(1)} KB`);

/** One progress bar per file on stderr; stdout stays free for the summary. */
function progressReporter(): { onProgress: (event: DownloadEvent) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    {
      format: '{file} |{bar}| {percentage}% | {received} / {size} | eta {eta_formatted}',
      hideCursor: true,
      stream: process.stderr,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 2_000,
    },
    cliProgress.Presets.shades_classic,
  );
  let active = false;
  const stop = () => {
    if (active) bar.stop();
    active = false;
  };
  const onProgress = (event: DownloadEvent) => {
    switch (event.type) {
      case 'start':
        log.debug({ url: event.url }, `downloading ${event.file}`);
        bar.start(event.total, 0, { file: event.file, received: size(0), size: size(event.total) });
        active = true;
        break;
      case 'progress':
        // Content-Length may be absent (total falls back to the table's size) or understate a re-encoded response.
        if (event.received > bar.getTotal()) bar.setTotal(event.received);
        bar.update(event.received, { received: size(event.received) });
        break;
      case 'done':
        stop();
        log.info({ path: event.file.path, bytes: event.file.bytes }, `${event.file.name}: ${event.file.status}, md5 and sha256 match`);
        break;
    }
  };
  return { onProgress, stop };
}

async function main(): Promise<void> {
  const [dataset, ...extra] = positionals;
  if (!dataset || extra.length > 0 || !(DATASETS as readonly string[]).includes(dataset)) {
    throw new Error(`usage: npm run data:download -- <${DATASETS.join('|')}> [--dest DIR] [--base-url URL] (got ${JSON.stringify(positionals.join(' '))})`);
  }
  const destDir = resolve(values.dest ?? config.DATA_DIR);
  const baseUrl = values['base-url'] ?? config.MNIST_BASE_URL;
  if (!URL.canParse(baseUrl)) throw new Error(`--base-url must be an absolute URL, got ${JSON.stringify(baseUrl)}`);

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());

  const progress = progressReporter();
  log.info({ dataset, destDir, baseUrl }, 'fetching dataset');
  try {
    const result = await downloadMnist({ baseUrl, destDir, signal: abort.signal, onProgress: progress.onProgress });
    process.stdout.write(
      JSON.stringify({
        dataset,
        dir: result.destDir,
        files: result.files.map((f) => ({ name: f.name, status: f.status, bytes: f.bytes, md5: f.md5, sha256: f.sha256 })),
      }) + '\n',
    );
  } catch (error) {
    progress.stop();
    if (error instanceof ChecksumMismatchError) {
      log.warn(`${baseUrl} served a different ${error.file} than the published one; nothing was kept for it. Try another --base-url.`);
    }
    if (error instanceof DownloadError) {
      // Lines a person can act on; the error itself at debug level.
      log.debug({ err: error }, 'download failed');
      process.stderr.write(
        `data:download: MNIST is not in ${destDir} and could not be fetched from ${baseUrl} (${error.message}).\n` +
          'data:download: copy the four MNIST files there, point DATA_DIR at a folder that has them, or set MNIST_BASE_URL (or --base-url) to a mirror you can reach.\n',
      );
      process.exit(1);
    }
    throw error;
  }
}

exitOnError(main(), log);
