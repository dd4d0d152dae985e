import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { REPORT_JSON, type EvaluationReport } from '@digitq/contracts';
import { applyTemperature } from '@digitq/evaluation';
import type { InferenceEngine } from '@digitq/model';
import { calibrated, readTemperature } from './calibration.ts';
import { answerOf } from './processors/inference.processor.ts';

const ROW = [0.7, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0];
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('calibrated', () => {
  const engine: InferenceEngine = {
    predict: async () => Float32Array.from(ROW),
    describe: () => ({ engine: 'tfjs', threads: 1, device: 'cpu', backend: 'cpu' }),
    dispose: async () => undefined,
  };

  it('wraps an engine so its probabilities are calibrated; T = 1 leaves the engine itself', async () => {
    expect(calibrated(engine, 1)).toBe(engine);
    const wrapped = calibrated(engine, 2);
    expect(await wrapped.predict(new Float32Array(784))).toEqual(applyTemperature(Float32Array.from(ROW), 2));
    expect(wrapped.describe()).toEqual(engine.describe());
  });
});

describe('readTemperature', () => {
  const folder = (report?: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'digitq-calibration-'));
    dirs.push(dir);
    if (report !== undefined) writeFileSync(join(dir, REPORT_JSON), report);
    return dir;
  };
  const logged: { msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });

  const fromFolder = (dir: string) => ({ dir, registryReport: null });
  const registryReport = (temperature: number) => async () => ({ calibration: { temperature } }) as EvaluationReport;

  it("is the folder report's calibration temperature, 1 without a report", async () => {
    expect(await readTemperature(fromFolder(folder(JSON.stringify({ calibration: { temperature: 1.7 } }))), log, 'digitnet@v2')).toBe(1.7);
    expect(await readTemperature(fromFolder(folder()), log, 'digitnet@v1')).toBe(1);
    expect(logged).toEqual([]);
  });

  it("prefers the registry's report, reads the folder when the registry has none or cannot be read", async () => {
    const dir = folder(JSON.stringify({ calibration: { temperature: 1.7 } }));
    expect(await readTemperature({ dir, registryReport: registryReport(2.4) }, log, 'digitnet@v2')).toBe(2.4);
    expect(await readTemperature({ dir, registryReport: async () => null }, log, 'digitnet@v2')).toBe(1.7);
    expect(await readTemperature({ dir, registryReport: () => Promise.reject(new Error('redis down')) }, log, 'digitnet@v2')).toBe(1.7);
    expect(logged.splice(0).map((l) => l.msg)).toEqual([expect.stringMatching(/from the registry; trying its folder/)]);
  });

  it('serves uncalibrated, with a warning, when the report is unreadable or has no usable temperature', async () => {
    expect(await readTemperature(fromFolder(folder('{not json')), log, 'digitnet@v3')).toBe(1);
    expect(await readTemperature(fromFolder(folder(JSON.stringify({ calibration: { temperature: -1 } }))), log, 'digitnet@v4')).toBe(1);
    expect(logged.map((l) => l.msg)).toEqual([expect.stringMatching(/could not read/), expect.stringMatching(/no usable calibration temperature/)]);
  });
});

describe('answerOf (min_confidence)', () => {
  const prediction = { prediction: 0, confidence: 0.7, probabilities: ROW };

  it('answers the digit at or above min_confidence, and null with reason "uncertain" below it, probabilities kept', () => {
    expect(answerOf(prediction, 0)).toEqual(prediction);
    expect(answerOf(prediction, 0.7)).toEqual(prediction);
    expect(answerOf(prediction, 0.71)).toEqual({ prediction: null, confidence: 0.7, probabilities: ROW, reason: 'uncertain' });
  });
});
