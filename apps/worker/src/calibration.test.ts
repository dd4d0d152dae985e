import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { InferenceEngine } from '@digitq/model';
import { REPORT_FILE, UNCALIBRATED_TEMPERATURE, applyTemperature, calibrated, readTemperature } from './calibration.ts';
import { answerOf } from './processors/inference.processor.ts';

const ROW = [0.7, 0.2, 0.1, 0, 0, 0, 0, 0, 0, 0];
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('applyTemperature', () => {
  it('is softmax(log(p) / T): T = 2 takes square roots and renormalises, zeros clipped to 1e-12', () => {
    const [out] = [applyTemperature(Float32Array.from([...ROW, ...ROW]), 2)];
    const roots = ROW.map((p) => Math.sqrt(Math.max(p, 1e-12)));
    const total = roots.reduce((a, b) => a + b, 0);
    for (const row of [0, 1]) roots.forEach((r, d) => expect(out[row * 10 + d]).toBeCloseTo(r / total, 6));
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('keeps the digit and moves confidence: T > 1 softens, T < 1 sharpens; T = 1 is a copy', () => {
    const input = Float32Array.from(ROW);
    const soft = applyTemperature(input, 2);
    const sharp = applyTemperature(input, 0.5);
    for (const out of [soft, sharp]) expect(out.indexOf(Math.max(...out))).toBe(0);
    expect(soft[0]).toBeLessThan(0.7);
    expect(sharp[0]).toBeGreaterThan(0.7);
    const same = applyTemperature(input, UNCALIBRATED_TEMPERATURE);
    expect(same).toEqual(input);
    expect(same).not.toBe(input);
  });

  it('refuses a temperature that is not a positive number and rows that are not 10 wide', () => {
    expect(() => applyTemperature(Float32Array.from(ROW), 0)).toThrow(RangeError);
    expect(() => applyTemperature(Float32Array.from(ROW), Number.NaN)).toThrow(RangeError);
    expect(() => applyTemperature(new Float32Array(7), 2)).toThrow(RangeError);
  });
});

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
    if (report !== undefined) writeFileSync(join(dir, REPORT_FILE), report);
    return dir;
  };
  const logged: { msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });

  it("is the report's calibration temperature, 1 without a report", async () => {
    expect(await readTemperature(folder(JSON.stringify({ calibration: { temperature: 1.7 } })), log, 'digitnet@v2')).toBe(1.7);
    expect(await readTemperature(folder(), log, 'digitnet@v1')).toBe(1);
    expect(logged).toEqual([]);
  });

  it('serves uncalibrated, with a warning, when the report is unreadable or has no usable temperature', async () => {
    expect(await readTemperature(folder('{not json'), log, 'digitnet@v3')).toBe(1);
    expect(await readTemperature(folder(JSON.stringify({ calibration: { temperature: -1 } })), log, 'digitnet@v4')).toBe(1);
    expect(logged.map((l) => l.msg)).toEqual([expect.stringMatching(/not JSON/), expect.stringMatching(/no usable calibration temperature/)]);
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
