/**
 * Known-good digests of downloadable files. Both md5 (what dataset pages
 * publish) and sha256 (what resists a deliberately crafted substitute) must match.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FileDigests } from './errors.ts';

export interface KnownFile extends FileDigests {
  readonly name: string;
  readonly bytes: number;
}

export const MNIST_DOWNLOADS: readonly KnownFile[] = [
  {
    name: 'train-images-idx3-ubyte.gz',
    bytes: 9_912_422,
    md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
    sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
  },
  {
    name: 'train-labels-idx1-ubyte.gz',
    bytes: 28_881,
    md5: 'd53e105ee54ea40749a09fcbcd1e9432',
    sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
  },
  {
    name: 't10k-images-idx3-ubyte.gz',
    bytes: 1_648_877,
    md5: '9fb629c4189551a2d022fa330f9573f3',
    sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
  },
  {
    name: 't10k-labels-idx1-ubyte.gz',
    bytes: 4_542,
    md5: 'ec29112dd5afa0611ce80d1b7f02629c',
    sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
  },
];

export interface MeasuredDigests extends FileDigests {
  readonly bytes: number;
}

/** Accumulates both digests over chunks, so a download is hashed while it streams to disk. */
export class DigestAccumulator {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');
  private bytes = 0;

  update(chunk: Uint8Array): void {
    this.md5.update(chunk);
    this.sha256.update(chunk);
    this.bytes += chunk.length;
  }

  digest(): MeasuredDigests {
    return { md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex'), bytes: this.bytes };
  }
}

export async function digestFile(path: string): Promise<MeasuredDigests> {
  const digests = new DigestAccumulator();
  for await (const chunk of createReadStream(path)) digests.update(chunk as Buffer);
  return digests.digest();
}

export function digestsMatch(expected: FileDigests, actual: FileDigests): boolean {
  return expected.md5.toLowerCase() === actual.md5 && expected.sha256.toLowerCase() === actual.sha256;
}
