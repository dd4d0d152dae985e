import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadDataset, downloadMnist, type DownloadEvent } from './download.ts';
import { MNIST_DOWNLOADS, digestFile, type KnownFile } from './checksums.ts';
import { ChecksumMismatchError, DownloadError } from './errors.ts';
import { encodeIdx, parseIdx } from './idx.ts';
import { mnistDir } from './mnist-dir.test-helper.ts';

function known(name: string, bytes: Uint8Array): KnownFile {
  return {
    name,
    bytes: bytes.length,
    md5: createHash('md5').update(bytes).digest('hex'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

const imagesGz = gzipSync(encodeIdx([100, 28, 28], Uint8Array.from({ length: 100 * 784 }, (_, i) => (i * 7919) % 251)));
const labelsGz = gzipSync(encodeIdx([100], Uint8Array.from({ length: 100 }, (_, i) => i % 10)));
const FIXTURE_TABLE: readonly KnownFile[] = [known('fix-images-idx3-ubyte.gz', imagesGz), known('fix-labels-idx1-ubyte.gz', labelsGz)];

interface Mirror {
  baseUrl: string;
  /** Requests per path. */
  hits: Map<string, number>;
  files: Map<string, Uint8Array>;
  close(): Promise<void>;
}

/** A loopback HTTP server serving `files` under /mirror/; anything else is a 404. */
async function startMirror(files: Record<string, Uint8Array>, options: { cutAfter?: number } = {}): Promise<Mirror> {
  const served = new Map(Object.entries(files).map(([name, bytes]) => [`/mirror/${name}`, bytes]));
  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const body = served.get(path);
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    if (options.cutAfter === undefined) {
      res.end(body);
    } else {
      res.write(body.subarray(0, options.cutAfter), () => res.destroy());
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/mirror/`,
    hits,
    files: served,
    close: () =>
      new Promise<void>((done, fail) => {
        server.closeAllConnections();
        server.close((error) => (error ? fail(error) : done()));
      }),
  };
}

describe('downloadDataset', () => {
  let mirror: Mirror | undefined;
  let destDir: string;
  beforeEach(async () => {
    destDir = join(await mkdtemp(join(tmpdir(), 'digitq-download-')), 'data');
  });
  afterEach(async () => {
    await mirror?.close();
    mirror = undefined;
    await rm(join(destDir, '..'), { recursive: true, force: true });
  });

  it('fetches every file, verifies it and reports progress', async () => {
    mirror = await startMirror({ [FIXTURE_TABLE[0]!.name]: imagesGz, [FIXTURE_TABLE[1]!.name]: labelsGz });
    const events: DownloadEvent[] = [];
    // No trailing slash: the file name must still land under /mirror/.
    const result = await downloadDataset({ baseUrl: mirror.baseUrl.slice(0, -1), destDir, files: FIXTURE_TABLE, onProgress: (e) => events.push(e) });

    expect(result.files.map((f) => [f.name, f.status, f.bytes])).toEqual([
      [FIXTURE_TABLE[0]!.name, 'downloaded', imagesGz.length],
      [FIXTURE_TABLE[1]!.name, 'downloaded', labelsGz.length],
    ]);
    expect((await readdir(destDir)).sort()).toEqual(FIXTURE_TABLE.map((f) => f.name).sort());
    const images = parseIdx(await readFile(join(destDir, FIXTURE_TABLE[0]!.name)));
    expect(images.shape).toEqual([100, 28, 28]);

    const imageEvents = events.filter((e) => e.type !== 'done' && e.file === FIXTURE_TABLE[0]!.name);
    expect(imageEvents[0]).toMatchObject({ type: 'start', total: imagesGz.length, url: `${mirror.baseUrl}${FIXTURE_TABLE[0]!.name}` });
    expect(imageEvents.at(-1)).toMatchObject({ type: 'progress', received: imagesGz.length, total: imagesGz.length });
    expect(events.filter((e) => e.type === 'done')).toHaveLength(2);
  });

  it('discards a corrupted file and names it, expected and actual digests', async () => {
    // Uint8Array.from copies; Buffer#slice would share memory and corrupt the fixture itself.
    const corrupted = Uint8Array.from(labelsGz);
    corrupted[corrupted.length - 1]! ^= 0x01;
    mirror = await startMirror({ [FIXTURE_TABLE[0]!.name]: imagesGz, [FIXTURE_TABLE[1]!.name]: corrupted });

    const error = await downloadDataset({ baseUrl: mirror.baseUrl, destDir, files: FIXTURE_TABLE }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    const mismatch = error as ChecksumMismatchError;
    expect(mismatch.code).toBe('CHECKSUM_MISMATCH');
    expect(mismatch.file).toBe(FIXTURE_TABLE[1]!.name);
    expect(mismatch.expected).toEqual({ md5: FIXTURE_TABLE[1]!.md5, sha256: FIXTURE_TABLE[1]!.sha256 });
    const { md5, sha256, bytes } = known('corrupted', corrupted);
    expect(mismatch.actual).toEqual({ md5, sha256, bytes });
    expect(mismatch.message).toContain(FIXTURE_TABLE[1]!.md5);
    expect(mismatch.message).toContain(mismatch.actual.sha256);
    // The good file stays; the bad one and every temp file are gone.
    expect(await readdir(destDir)).toEqual([FIXTURE_TABLE[0]!.name]);
  });

  it('reports an HTTP error with its status and URL', async () => {
    mirror = await startMirror({ [FIXTURE_TABLE[0]!.name]: imagesGz });
    const error = await downloadDataset({ baseUrl: mirror.baseUrl, destDir, files: FIXTURE_TABLE }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ code: 'DOWNLOAD_HTTP', status: 404, url: `${mirror.baseUrl}${FIXTURE_TABLE[1]!.name}` });
    expect((error as Error).message).toBe(`GET ${mirror.baseUrl}${FIXTURE_TABLE[1]!.name}: HTTP 404 Not Found`);
    expect(await readdir(destDir)).toEqual([FIXTURE_TABLE[0]!.name]);
  });

  it('reports a network failure', async () => {
    const closed = await startMirror({});
    const baseUrl = closed.baseUrl;
    await closed.close();
    const error = await downloadDataset({ baseUrl, destDir, files: FIXTURE_TABLE }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ code: 'DOWNLOAD_NETWORK', status: null });
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(await readdir(destDir)).toEqual([]);
  });

  it('reports a connection that drops mid-file and leaves no partial file', async () => {
    mirror = await startMirror({ [FIXTURE_TABLE[0]!.name]: imagesGz }, { cutAfter: Math.floor(imagesGz.length / 2) });
    const error = await downloadDataset({ baseUrl: mirror.baseUrl, destDir, files: FIXTURE_TABLE }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error).toMatchObject({ code: 'DOWNLOAD_NETWORK', status: 200 });
    expect((error as Error).message).toContain('broke off after');
    expect(await readdir(destDir)).toEqual([]);
  });

  it('does not fetch files already present with the right digests, and replaces wrong ones', async () => {
    mirror = await startMirror({ [FIXTURE_TABLE[0]!.name]: imagesGz, [FIXTURE_TABLE[1]!.name]: labelsGz });
    await downloadDataset({ baseUrl: mirror.baseUrl, destDir, files: FIXTURE_TABLE });
    expect([...mirror.hits.values()]).toEqual([1, 1]);

    await writeFile(join(destDir, FIXTURE_TABLE[1]!.name), 'stale');
    const again = await downloadDataset({ baseUrl: mirror.baseUrl, destDir, files: FIXTURE_TABLE });
    expect(again.files.map((f) => f.status)).toEqual(['present', 'replaced']);
    expect(mirror.hits.get(`/mirror/${FIXTURE_TABLE[0]!.name}`)).toBe(1);
    expect(mirror.hits.get(`/mirror/${FIXTURE_TABLE[1]!.name}`)).toBe(2);
    expect(Buffer.from(await readFile(join(destDir, FIXTURE_TABLE[1]!.name))).equals(Buffer.from(labelsGz))).toBe(true);
  });
});

describe('MNIST checksum table', () => {
  it('matches the real files', async () => {
    for (const file of MNIST_DOWNLOADS) {
      expect(await digestFile(join(mnistDir(), file.name))).toEqual({ md5: file.md5, sha256: file.sha256, bytes: file.bytes });
    }
  });

  it('downloadMnist fetches and verifies the real files from a local mirror', async () => {
    const files = Object.fromEntries(await Promise.all(MNIST_DOWNLOADS.map(async (f) => [f.name, await readFile(join(mnistDir(), f.name))] as const)));
    const mirror = await startMirror(files);
    const root = await mkdtemp(join(tmpdir(), 'digitq-mnist-download-'));
    try {
      const result = await downloadMnist({ baseUrl: mirror.baseUrl, destDir: root });
      expect(result.files.map((f) => f.status)).toEqual(['downloaded', 'downloaded', 'downloaded', 'downloaded']);
      expect((await readdir(root)).sort()).toEqual(MNIST_DOWNLOADS.map((f) => f.name).sort());
    } finally {
      await mirror.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
