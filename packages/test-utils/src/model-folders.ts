import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelMetadata } from '@digitq/contracts';

export interface FakeModelVersion {
  name?: string;
  version: string;
  /** The folder's files (name -> content), each listed in the metadata with its sha256. Default: a model.json and weights.bin. */
  files?: Record<string, string>;
  testAccuracy?: number;
  /** Metadata fields beyond the defaults (e.g. variants). */
  metadata?: Partial<ModelMetadata>;
}

/**
 * A model version folder `<modelsDir>/<name>/<version>/` as training writes
 * one, with opaque artifacts: for tests of what moves, lists and checks
 * versions (registry, API), not of models. Returns the folder.
 */
export function writeFakeModelVersion(modelsDir: string, spec: FakeModelVersion): string {
  const name = spec.name ?? 'digitnet';
  const dir = join(modelsDir, name, spec.version);
  mkdirSync(dir, { recursive: true });
  const files = spec.files ?? { 'model.json': `{"name":"${name}"}`, 'weights.bin': `weights-${spec.version}` };
  for (const [file, body] of Object.entries(files)) writeFileSync(join(dir, file), body);
  const sha = (body: string) => createHash('sha256').update(body).digest('hex');
  const metadata: ModelMetadata = {
    name,
    version: spec.version,
    architecture: 'tiny',
    parameters: 1,
    created_at: new Date().toISOString(),
    dataset: { name: 'mnist', train_count: 1, validation_count: 0 },
    training: { epochs: 1, batch_size: 1, learning_rate: 1, augment: null, seed: 1, seconds: 1, backend: 'wasm' },
    metrics: { test_accuracy: spec.testAccuracy ?? 0.99, test_count: 1, test_loss: 0, val_accuracy: null },
    input: {},
    files: Object.fromEntries(Object.entries(files).map(([file, body]) => [file, sha(body)])),
    ...spec.metadata,
  };
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata));
  return dir;
}
