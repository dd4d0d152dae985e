/**
 * Honest confidence: a version's probabilities are served calibrated by
 * temperature scaling, softmax(log(p) / T), with the temperature its
 * evaluation report fitted on held-out images (`calibration.temperature`),
 * applied by the same function that fitted it (@digitq/evaluation). T > 1
 * softens an overconfident model; the digit never changes, only how sure
 * the answer says it is. A version without a report is served as it is.
 *
 * The model store wraps each loaded engine in `calibrated`, so every path
 * that reads probabilities (jobs, POST /predict, the V2 protocol,
 * explanations, shadow mode) gets the same calibrated ones.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { REPORT_JSON, type EvaluationReport } from '@digitq/contracts';
import { applyTemperature } from '@digitq/evaluation';
import type { InferenceEngine } from '@digitq/model';

/** A version without a report (or one without calibration) is served as the model gives it. */
export const UNCALIBRATED_TEMPERATURE = 1;
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

/** report.json of the version folder `dir`: its temperature, null without a report; unreadable is logged and null. */
async function folderTemperature(dir: string, log: Logger, model: string): Promise<number | null> {
  let report: unknown;
  try {
    report = JSON.parse(await readFile(join(dir, REPORT_JSON), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    log.warn({ err: error, model }, "could not read the version's evaluation report; serving its probabilities uncalibrated");
    return null;
  }
  const temperature = temperatureOf(report);
  if (temperature === null) log.warn({ model }, "the version's evaluation report has no usable calibration temperature; serving its probabilities uncalibrated");
  return temperature;
}

export interface ReportSources {
  /** The version's folder, whose report.json is read when the registry has no report. */
  dir: string;
  /** The registry's copy of the report (ModelRegistry.getReport), the one every machine shares; null without a registry. */
  registryReport: (() => Promise<EvaluationReport | null>) | null;
}

/**
 * The calibration temperature of a version: its evaluation report's, from the
 * registry (where a report computed on any machine is), else from report.json
 * in its folder, else 1. A report that cannot be read is logged and the
 * version served uncalibrated rather than not at all.
 */
export async function readTemperature(sources: ReportSources, log: Logger, model: string): Promise<number> {
  if (sources.registryReport) {
    try {
      const report = await sources.registryReport();
      if (report) return report.calibration.temperature;
    } catch (error) {
      log.warn({ err: error, model }, "could not read the version's evaluation report from the registry; trying its folder");
    }
  }
  return (await folderTemperature(sources.dir, log, model)) ?? UNCALIBRATED_TEMPERATURE;
}
