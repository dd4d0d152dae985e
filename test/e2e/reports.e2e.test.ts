/**
 * A trained version's evaluation report across the real processes: the
 * training worker computes it and judges promotion (AUTO_PROMOTE) against
 * the committed model, the API serves the report and its pictures, and the
 * training's view carries the verdict.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyCommittedModels, sleep, useSystem, type JobBody } from './system.ts';

const temps: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `digitq-reports-${name}-`));
  temps.push(dir);
  return dir;
}
afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** The trainer's own models folder, holding a copy of the committed model (the active version to beat). */
function modelsCopy(): string {
  return copyCommittedModels(tempDir('models'));
}

describe('evaluation reports of trained versions', () => {
  const modelsDir = modelsCopy();
  const system = useSystem(
    { workers: 0, env: { MODELS_DIR: modelsDir, TRAINING_RUNS_DIR: tempDir('runs'), AUTO_PROMOTE: 'true', REPORT_SUITE_COUNT: '20' } },
    async (s) => {
      await s.startWorker({}, ['--device', 'cpu', '--queues', 'training']);
    },
  );

  it('a tiny version worse than the active one is registered with its report, not promoted, and says why', async () => {
    const before = (await (await fetch(`${system.baseUrl}/v1/models`)).json()) as JobBody;
    const active = before.data.find((m: JobBody) => m.name === 'digitnet').active_version as string;
    const started = await fetch(`${system.baseUrl}/v1/trainings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataset: 'mnist', architecture: 'tiny', epochs: 1, limit: 1000, augment: 'none', validation_split: 0.1 }),
    });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as JobBody;
    const phases = new Set<string>();
    let view: JobBody = { status: 'queued' };
    for (const deadline = Date.now() + 150_000; Date.now() < deadline && !['succeeded', 'failed'].includes(view.status); await sleep(100)) {
      view = (await (await fetch(`${system.baseUrl}/v1/trainings/${id}`)).json()) as JobBody;
      if (view.progress?.phase) phases.add(view.progress.phase);
    }
    expect(view.status, system.logs()).toBe('succeeded');
    expect([...phases]).toContain('evaluating');
    const version = view.model.version as string;
    expect(view.model).toMatchObject({ name: 'digitnet', promoted: false });
    expect(view.model.promotion_reasons.at(-1)).toBe(`not promoted: digitnet@${active} stays active`);

    const res = await fetch(`${system.baseUrl}/v1/models/digitnet/${version}/report`);
    expect(res.status).toBe(200);
    const report = (await res.json()) as JobBody;
    expect(report.model).toEqual({ name: 'digitnet', version });
    expect(report.datasets['mnist-test'].count).toBe(10_000);
    expect(report.datasets['robustness/clean'].count).toBe(20);
    expect(report.calibration).toMatchObject({ count: 100 });
    // The committed model, scored now on the same 10,000 images, makes far fewer errors: no feedback, so no tolerance.
    expect(report.promotion).toMatchObject({ candidate_of: `digitnet@${active}`, promoted: false, compared_to: { name: 'digitnet', version: active } });
    expect(report.promotion.reasons[0]).toMatch(new RegExp(`^MNIST test: [\\d,]+ errors of 10,000 \\(.*\\) vs \\d+ for digitnet@${active}; no more allowed without held-back feedback to show an improvement: worse$`));
    expect(report.promotion.reasons).toEqual(view.model.promotion_reasons);
    expect(JSON.parse(readFileSync(join(modelsDir, 'digitnet', version, 'report.json'), 'utf8'))).toEqual(report);

    const svg = await fetch(`${system.baseUrl}/v1/models/digitnet/${version}/report/robustness.svg?compare_to=${active}`);
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(await svg.text()).toMatch(new RegExp(`^<svg[^]*digitnet@${active} \\(before\\)[^]*</svg>\n$`));
    const models = (await (await fetch(`${system.baseUrl}/v1/models`)).json()) as JobBody;
    expect(models.data.find((m: JobBody) => m.name === 'digitnet').active_version).toBe(active);
    expect(existsSync(join(modelsDir, 'digitnet', version, 'model.onnx'))).toBe(true);
  }, 200_000);
});
