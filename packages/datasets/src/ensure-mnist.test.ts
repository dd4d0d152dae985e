import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@digitq/config';
import { ensureMnist } from './ensure-mnist.ts';
import { DatasetNotFoundError } from './errors.ts';
import { hasMnist } from './idx-digits.ts';

/** The real MNIST files this run uses (DATA_DIR), served by a loopback mirror below. */
const DATA_DIR = resolve(loadConfig().DATA_DIR);
const dirs: string[] = [];
const servers: Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function emptyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'digitq-ensure-mnist-'));
  dirs.push(dir);
  return dir;
}

async function mirror(): Promise<string> {
  const server = createServer((req, res) => {
    try {
      res.end(readFileSync(join(DATA_DIR, basename(req.url ?? ''))));
    } catch {
      res.writeHead(404).end();
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe('ensureMnist', () => {
  it('leaves a folder that has MNIST alone, without a request', async () => {
    const noNetwork = (() => Promise.reject(new Error('no request expected'))) as typeof fetch;
    expect(await ensureMnist({ dataDir: DATA_DIR, baseUrl: 'http://127.0.0.1:9/', fetchImpl: noNetwork })).toBe('present');
  });

  it('fetches the four files, checksummed, into a folder that lacks them', async () => {
    const dataDir = emptyDir();
    expect(hasMnist(dataDir)).toBe(false);
    expect(await ensureMnist({ dataDir, baseUrl: await mirror() })).toBe('downloaded');
    expect(hasMnist(dataDir)).toBe(true);
  });

  it('says what to do when the files are missing and cannot be fetched', async () => {
    const dataDir = emptyDir();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await new Promise((r) => server.close(r));
    const failure = await ensureMnist({ dataDir, baseUrl: closed }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatasetNotFoundError);
    expect((failure as Error).message).toMatch(new RegExp(`MNIST is not in ${dataDir} and could not be fetched from ${closed}.*DATA_DIR`));
  });
});
