/**
 * npm run model:ensemble -- <member> <member> [...] [--name digitnet]
 *
 * Writes a new version of --name (default: the first member's name) whose
 * model averages the members' probabilities (@digitq/model buildEnsemble):
 * model.json + weights.bin like any version, model.onnx (one graph, checked
 * against tfjs), the members' training history side by side, its MNIST test
 * accuracy in the metadata. Members are name@version or version folders; all
 * must share one input convention and validation split, so the split stays
 * held out for calibration (npm run model:report).
 *
 * Prints one JSON line on stdout: {"model":"digitnet@v4","members":[...],"test_accuracy":0.9977,...}
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { loadConfig } from '@digitq/config';
import type { ModelMetadata } from '@digitq/contracts';
import { loadMnist } from '@digitq/datasets';
import {
  buildEnsemble,
  evaluateModel,
  exportModelFolderOnnx,
  initBackend,
  loadModelFolder,
  resolveModelDir,
  verifyOnnxExport,
  writeModelFolder,
  writeOnnxToModelFolder,
  type BackendPreference,
} from '@digitq/model';
import { METADATA_JSON } from '@digitq/registry';
import { createCliLogger, exitOnError } from './cli-support.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    backend: { type: 'string' },
  },
});

interface Member {
  ref: string;
  dir: string;
  model: tf.LayersModel;
  metadata: ModelMetadata;
}

const config = loadConfig();
const log = createCliLogger('model-ensemble', config.LOG_LEVEL);

async function main(): Promise<void> {
  if (positionals.length < 2) throw new Error('give at least two members: npm run model:ensemble -- digitnet@v2 digitnet@v3');
  const backend = await initBackend((values.backend ?? config.TF_BACKEND) as BackendPreference);
  const members: Member[] = [];
  for (const ref of positionals) {
    const dir = existsSync(join(ref, METADATA_JSON)) ? ref : await resolveModelDir(config.MODELS_DIR, ref);
    members.push({ ref, dir, ...(await loadModelFolder(dir)) });
  }
  const first = members[0]!.metadata;
  const split = (m: Member) => `${m.metadata.dataset.name}/${m.metadata.dataset.train_count}/${m.metadata.dataset.validation_count}`;
  const mismatch = members.find((m) => split(m) !== split(members[0]!));
  if (mismatch) throw new Error(`${mismatch.ref} was trained on ${split(mismatch)}, ${members[0]!.ref} on ${split(members[0]!)}: their held-out splits differ`);

  const refs = members.map((m) => `${m.metadata.name}@${m.metadata.version}`);
  const ensemble = await buildEnsemble(members.map((m) => m.model));
  const test = await loadMnist(config.DATA_DIR, 'test');
  const evaluation = await evaluateModel(ensemble, test);
  log.info({ members: refs, test_accuracy: evaluation.accuracy }, 'ensemble evaluated');
  const written = await writeModelFolder({
    modelsDir: config.MODELS_DIR,
    name: values.name ?? first.name,
    model: ensemble,
    history: [],
    metadata: {
      architecture: `ensemble of ${members.length} (${[...new Set(members.map((m) => m.metadata.architecture))].join(', ')})`,
      created_at: new Date().toISOString(),
      source: `probabilities of ${refs.join(', ')} averaged`,
      dataset: first.dataset,
      // The first member's recipe (the members' own metadata has theirs); nothing was trained, nor warm-started, here.
      training: {
        ...first.training,
        base: undefined,
        seconds: members.reduce((sum, m) => sum + m.metadata.training.seconds, 0),
        backend: backend.label,
        command: `npm run model:ensemble -- ${process.argv.slice(2).join(' ')}`.trim(),
      },
      metrics: { test_accuracy: evaluation.accuracy, test_count: evaluation.count, test_loss: evaluation.loss, val_accuracy: null },
    },
  });
  const { bytes } = await exportModelFolderOnnx(written.dir);
  const check = await verifyOnnxExport(written.dir, bytes);
  const onnx = await writeOnnxToModelFolder(written.dir, bytes);
  process.stdout.write(
    JSON.stringify({ model: `${written.name}@${written.version}`, dir: written.dir, members: refs, test_accuracy: evaluation.accuracy, onnx: onnx.path, max_abs_diff: check.maxAbsDiff }) + '\n',
  );
  ensemble.dispose();
  for (const m of members) m.model.dispose();
}

exitOnError(main(), log);
