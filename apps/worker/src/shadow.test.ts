import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ShadowJobRecord, ShadowStats } from '@digitq/jobs';
import type { InferenceEngine } from '@digitq/model';
import { createWorkerMetrics } from './metrics.ts';
import type { LoadedModel } from './model-store.ts';
import type { Classified } from './processors/inference.processor.ts';
import { ShadowRunner } from './shadow.ts';

const quiet = pino({ level: 'silent' });
const image = () => new Uint8Array(784);

/** An engine that reads every image as `digit`; `gate` holds each forward pass until it resolves. */
function shadowModel(digit: number, gate?: Promise<void>): LoadedModel {
  const engine: InferenceEngine = {
    predict: async (batch) => {
      await gate;
      const out = new Float32Array((batch.length / 784) * 10);
      for (let i = 0; i < out.length / 10; i++) out[i * 10 + digit] = 1;
      return out;
    },
    describe: () => ({ engine: 'tfjs', threads: 1, device: 'cpu', backend: 'cpu' }),
    dispose: async () => undefined,
  };
  return { key: 'digitnet@v2', name: 'digitnet', version: 'v2', variant: 'fp32', engine, metadata: {} as LoadedModel['metadata'], temperature: 1 };
}

function classified(digits: number[], version = 'v1'): Classified {
  return {
    predictions: digits.map((d) => ({ prediction: d, confidence: 0.9, probabilities: Array.from({ length: 10 }, (_, i) => (i === d ? 0.9 : 0.1 / 9)) })),
    model: { name: 'digitnet', version },
    batchSize: digits.length,
    computeMs: 3,
  };
}

function runner(options: { fraction?: number; load?: () => Promise<LoadedModel>; record?: (job: ShadowJobRecord) => Promise<void> } = {}) {
  const records: ShadowJobRecord[] = [];
  const metrics = createWorkerMetrics({ device: 'cpu', backend: 'cpu' });
  const stats = { record: async (_name: string, _version: string, job: ShadowJobRecord) => (options.record ? options.record(job) : void records.push(job)) } as unknown as ShadowStats;
  const shadow = new ShadowRunner({ model: 'digitnet@v2', fraction: options.fraction ?? 1, load: options.load ?? (async () => shadowModel(7)), stats, metrics, log: quiet });
  const count = async (outcome: string) => (await metrics.shadowJobs.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { shadow, records, metrics, count };
}

describe('ShadowRunner', () => {
  it('compares a sampled job only once its result is recorded, and records both readings', async () => {
    const { shadow, records, metrics, count } = runner();
    shadow.offer('job-1', [image(), image()], classified([7, 1]));
    await shadow.close();
    expect(records).toEqual([]);

    const again = runner();
    again.shadow.offer('job-1', [image(), image()], classified([7, 1]));
    again.shadow.completed('job-1');
    again.shadow.completed('job-1');
    await again.shadow.close();
    expect(again.records).toEqual([{ jobId: 'job-1', active: [7, 1], shadow: [7, 7], activeMs: 3, shadowMs: expect.any(Number) }]);
    expect((await again.metrics.shadowPredictions.get()).values[0]?.value).toBe(2);
    expect((await again.metrics.shadowAgreements.get()).values[0]?.value).toBe(1);
    expect(await again.count('compared')).toBe(1);
    expect(await count('compared')).toBe(0);
    expect((await metrics.shadowPredictions.get()).values).toEqual([]);
  });

  it('does nothing for jobs not sampled, failed, or answered by the shadow version itself', async () => {
    const none = runner({ fraction: 0 });
    none.shadow.offer('a', [image()], classified([7]));
    none.shadow.completed('a');
    await none.shadow.close();
    expect(none.records).toEqual([]);

    const { shadow, records, count } = runner();
    shadow.offer('failed', [image()], classified([7]));
    shadow.forget('failed');
    shadow.completed('failed');
    shadow.offer('self', [image()], classified([7], 'v2'));
    shadow.completed('self');
    await shadow.close();
    expect(records).toEqual([]);
    expect(await count('skipped')).toBe(1);
  });

  it('skips jobs beyond its backlog instead of queueing them', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { shadow, records, count } = runner({ load: async () => shadowModel(7, gate) });
    for (let i = 0; i < 40; i++) {
      shadow.offer(`job-${i}`, [image()], classified([7]));
      shadow.completed(`job-${i}`);
    }
    open();
    await shadow.close();
    expect(records).toHaveLength(32);
    expect(await count('skipped')).toBe(8);
    expect(await count('compared')).toBe(32);
  });

  it('never throws: a failed record is counted and the next job still compared', async () => {
    let fail = true;
    const { shadow, count } = runner({
      record: async () => {
        if (fail) {
          fail = false;
          throw new Error('redis down');
        }
      },
    });
    for (const id of ['a', 'b']) {
      shadow.offer(id, [image()], classified([7]));
      shadow.completed(id);
    }
    await shadow.close();
    expect(await count('failed')).toBe(1);
    expect(await count('compared')).toBe(1);
  });
});
