/**
 * Honest confidence: a version's probabilities are served calibrated by
 * temperature scaling, softmax(log(p) / T), with the temperature its
 * evaluation report fitted on held-out images (report.json's
 * `calibration.temperature`). T > 1 softens an overconfident model; the
 * digit never changes, only how sure the answer says it is.
 *
 * The model store wraps each loaded engine in `calibrated`, so every path
 * that reads probabilities (jobs, POST /predict, the V2 protocol,
 * explanations, shadow mode) gets the same calibrated ones.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { DIGIT_CLASSES } from '@digitq/contracts';
import type { InferenceEngine } from '@digitq/model';

/** A version without a report (or one without calibration) is served as the model gives it. */
export const UNCALIBRATED_TEMPERATURE = 1;
/** The evaluation report in a version's folder. */
export const REPORT_FILE = 'report.json';
/** Probabilities are clipped to this before their log: a softmax's 0 would be -Infinity. */
const MIN_PROBABILITY = 1e-12;

/** softmax(log(p) / T) per row of N×10 probabilities, as a new array (T = 1: a copy). */
export function applyTemperature(probabilities: Float32Array, temperature: number): Float32Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a positive number, got ${temperature}`);
  if (probabilities.length % DIGIT_CLASSES !== 0) throw new RangeError(`expected N x ${DIGIT_CLASSES} probabilities, got ${probabilities.length}`);
  if (temperature === UNCALIBRATED_TEMPERATURE) return probabilities.slice();
  const out = new Float32Array(probabilities.length);
  const scaled = new Float64Array(DIGIT_CLASSES);
  for (let row = 0; row < probabilities.length; row += DIGIT_CLASSES) {
    let max = -Infinity;
    for (let d = 0; d < DIGIT_CLASSES; d++) {
      scaled[d] = Math.log(Math.max(MIN_PROBABILITY, probabilities[row + d]!)) / temperature;
      max = Math.max(max, scaled[d]!);
    }
    let total = 0;
    for (let d = 0; d < DIGIT_CLASSES; d++) {
      // Shifted by the row's largest so exp never overflows.
      scaled[d] = Math.exp(scaled[d]! - max);
      total += scaled[d]!;
    }
    for (let d = 0; d < DIGIT_CLASSES; d++) out[row + d] = scaled[d]! / total;
  }
  return out;
}

/** The engine with its probabilities calibrated by `temperature`; the engine itself when there is nothing to change. */
export function calibrated(engine: InferenceEngine, temperature: number): InferenceEngine {
  if (temperature === UNCALIBRATED_TEMPERATURE) return engine;
  return {
    predict: async (batch) => applyTemperature(await engine.predict(batch), temperature),
    describe: () => engine.describe(),
    dispose: () => engine.dispose(),
  };
}

/** A report's temperature if it has a usable one. */
function temperatureOf(report: unknown): number | null {
  const temperature = (report as { calibration?: { temperature?: unknown } } | null)?.calibration?.temperature;
  return typeof temperature === 'number' && Number.isFinite(temperature) && temperature > 0 ? temperature : null;
}

/**
 * The calibration temperature of the version in `dir`: its report's, else
 * (no report yet, or one without calibration) 1. A report that cannot be
 * read is logged and the version served uncalibrated rather than not at all.
 */
export async function readTemperature(dir: string, log: Logger, model: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(join(dir, REPORT_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return UNCALIBRATED_TEMPERATURE;
    log.warn({ err: error, model }, 'could not read the version\'s evaluation report; serving its probabilities uncalibrated');
    return UNCALIBRATED_TEMPERATURE;
  }
  let report: unknown;
  try {
    report = JSON.parse(text);
  } catch (error) {
    log.warn({ err: error, model }, 'the version\'s evaluation report is not JSON; serving its probabilities uncalibrated');
    return UNCALIBRATED_TEMPERATURE;
  }
  const temperature = temperatureOf(report);
  if (temperature === null) log.warn({ model }, 'the version\'s evaluation report has no usable calibration temperature; serving its probabilities uncalibrated');
  return temperature ?? UNCALIBRATED_TEMPERATURE;
}
