/**
 * A check the exporter runs before it writes: ONNX Runtime, given the new
 * bytes, must answer what tfjs answers for the same model folder.
 */
import { MNIST_PIXELS } from '@digitq/datasets';
import { predictedDigit } from '../engines/classify.ts';
import { OnnxEngine } from '../engines/onnx-engine.ts';
import { TfjsEngine } from '../engines/tfjs-engine.ts';

/** Probabilities may differ by float32 rounding (batch norm folded, another conv algorithm), nothing more. */
export const MAX_EXPORT_PROBABILITY_DIFF = 1e-5;
const CHECK_IMAGES = 64;
const CHECK_SEED = 20_240_601;

export class OnnxExportMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportMismatchError';
  }
}

/** Deterministic images: sparse bright strokes on black, roughly what preprocessed digits look like. */
function checkImages(): Float32Array {
  const batch = new Float32Array(CHECK_IMAGES * MNIST_PIXELS);
  let s = CHECK_SEED;
  for (let i = 0; i < batch.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    batch[i] = u < 0.8 ? 0 : (u - 0.8) * 5;
  }
  return batch;
}

/** Runs both engines on the same images; throws OnnxExportMismatchError when they disagree. Returns the largest difference. */
export async function verifyOnnxExport(modelDir: string, onnxBytes: Uint8Array): Promise<{ images: number; maxAbsDiff: number }> {
  const [onnx, tfjs] = await Promise.all([OnnxEngine.load(onnxBytes), TfjsEngine.load(modelDir)]);
  try {
    const batch = checkImages();
    const expected = await tfjs.predict(batch);
    const actual = await onnx.predict(batch);
    let maxAbsDiff = 0;
    for (let i = 0; i < expected.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(expected[i]! - actual[i]!));
    const disagreements = Array.from({ length: CHECK_IMAGES }, (_, i) => i).filter((i) => predictedDigit(expected, i) !== predictedDigit(actual, i));
    if (maxAbsDiff > MAX_EXPORT_PROBABILITY_DIFF || disagreements.length > 0) {
      throw new OnnxExportMismatchError(
        `ONNX Runtime and tfjs disagree on the exported model: max probability difference ${maxAbsDiff} (limit ${MAX_EXPORT_PROBABILITY_DIFF}), ${disagreements.length} of ${CHECK_IMAGES} predictions differ`,
      );
    }
    return { images: CHECK_IMAGES, maxAbsDiff };
  } finally {
    await Promise.all([onnx.dispose(), tfjs.dispose()]);
  }
}
