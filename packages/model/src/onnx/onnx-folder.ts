/**
 * model.onnx in a model folder: written beside model.json + weights.bin by the
 * exporter, listed with its sha256 in metadata.json's `files` like every
 * served file, and read back only when that checksum matches.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { METADATA_JSON, sha256, writeAtomically } from '@digitq/registry';
import type { ModelMetadata } from '@digitq/contracts';
import { ModelChecksumError, loadModelFolder, readModelMetadata } from '../storage/model-folder.ts';
import { EngineUnavailableError } from '../engines/engine.ts';
import { layersModelToOnnx } from './export.ts';
import { encodeOnnxModel } from './onnx-proto.ts';

export const MODEL_ONNX = 'model.onnx';

export interface OnnxExportResult {
  path: string;
  sha256: string;
  bytes: number;
  metadata: ModelMetadata;
}


/**
 * The ONNX bytes of a model folder's tfjs model (checksums verified on load).
 * Same folder, same bytes: the file carries no timestamp.
 */
export async function exportModelFolderOnnx(dir: string): Promise<{ bytes: Uint8Array; metadata: ModelMetadata }> {
  const { model, metadata } = await loadModelFolder(dir);
  try {
    const bytes = encodeOnnxModel(
      layersModelToOnnx(model, {
        docString: `${metadata.name}@${metadata.version} (${metadata.architecture}), exported from its TensorFlow.js model`,
        metadata: {
          'digitq.model': `${metadata.name}@${metadata.version}`,
          'digitq.input': 'input [N,28,28,1] float32 in [0,1], white digit on black (MNIST convention)',
          'digitq.output': 'probabilities [N,10] softmax over the digits 0-9',
        },
      }),
    );
    return { bytes, metadata };
  } finally {
    model.dispose();
  }
}

/**
 * Writes `bytes` as the folder's model.onnx and records its sha256 in
 * metadata.json's `files` (the other fields are kept as they are).
 */
export async function writeOnnxToModelFolder(dir: string, bytes: Uint8Array): Promise<OnnxExportResult> {
  const metadata = await readModelMetadata(dir);
  const digest = sha256(bytes);
  const updated: ModelMetadata = { ...metadata, files: { ...metadata.files, [MODEL_ONNX]: digest } };
  const path = join(dir, MODEL_ONNX);
  await writeAtomically(path, bytes);
  await writeAtomically(join(dir, METADATA_JSON), JSON.stringify(updated, null, 2) + '\n');
  return { path, sha256: digest, bytes: bytes.length, metadata: updated };
}

/**
 * A folder's model.onnx (or another ONNX file of it: a variant), verified
 * against its metadata. A folder without one (or whose metadata does not list
 * it) makes an EngineUnavailableError; a file that does not match its
 * checksum, a ModelChecksumError.
 */
export async function readOnnxFromModelFolder(dir: string, file = MODEL_ONNX): Promise<Uint8Array> {
  const path = join(dir, file);
  if (!existsSync(path)) {
    const how = file === MODEL_ONNX ? 'export it: npm run model:export -- <name@version> --format onnx' : 'make it: npm run model:quantize -- <name@version> --variant <variant>';
    throw new EngineUnavailableError(`${dir} has no ${file} (${how})`);
  }
  const expected = (await readModelMetadata(dir)).files[file];
  if (!expected) throw new EngineUnavailableError(`${path} is not listed in ${join(dir, METADATA_JSON)}, so it cannot be verified`);
  const bytes = await readFile(path);
  const actual = sha256(bytes);
  if (actual !== expected) throw new ModelChecksumError(`${path}: sha256 ${actual} does not match metadata ${expected}`);
  return bytes;
}
