/** Evaluation reports over HTTP (JSON and SVG pictures) and the checks on a fine-tuning's base at submit. */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { FEEDBACK_HELDBACK_DATASET, evaluationReportSchema, type EvaluationReport } from '@digitq/contracts';
import { ShadowStats } from '@digitq/jobs';
import { useTempDirs, writeFakeModelVersion } from '@digitq/test-utils';
import { createTestStack, type TestStack } from '../test/api-stack.ts';
import { modelReportExample } from './http/report-example.ts';

const tempDir = useTempDirs('report-models');
let stack: TestStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Registers digitnet@<version> (a fake folder: these tests move reports, not models). */
async function register(s: TestStack, version: string, architecture = 'tiny'): Promise<void> {
  await s.registry.publishFolder(writeFakeModelVersion(tempDir(), { version, metadata: { architecture } }));
}

const reportOf = (version: string, mnistAccuracyScale = 1): EvaluationReport => {
  const mnist = modelReportExample.datasets['mnist-test']!;
  return {
    ...modelReportExample,
    model: { name: 'digitnet', version },
    datasets: { ...modelReportExample.datasets, 'mnist-test': { ...mnist, accuracy: mnist.accuracy * mnistAccuracyScale } },
  };
};

describe('GET /v1/models/:name/:version/report', () => {
  it('answers 404 for an unknown version and for a version without a report, then the report once saved', async () => {
    stack = await createTestStack();
    const missing = await request(stack.app).get('/v1/models/digitnet/v9/report').expect(404);
    expect(missing.body.error.code).toBe('MODEL_NOT_FOUND');
    await register(stack, 'v1');
    const noReport = await request(stack.app).get('/v1/models/digitnet/v1/report').expect(404);
    expect(noReport.body.error).toMatchObject({ code: 'MODEL_NOT_FOUND', message: 'model digitnet@v1 has no evaluation report' });
    await request(stack.app).get('/v1/models/digitnet/v1/report/robustness.svg').expect(404);

    await stack.registry.saveReport(reportOf('v1'));
    const res = await request(stack.app).get('/v1/models/digitnet/v1/report').expect(200);
    expect(evaluationReportSchema.parse(res.body)).toEqual(reportOf('v1'));
    expect(res.body.promotion.reasons).toHaveLength(3);
    await request(stack.app).get('/v1/models/digitnet/bad/report').expect(400);
  });

  it('draws the confusion matrix, reliability diagram and robustness chart as SVG, for another dataset or beside another version', async () => {
    stack = await createTestStack();
    await register(stack, 'v1');
    await register(stack, 'v2');
    await stack.registry.saveReport(reportOf('v1', 0.5));
    await stack.registry.saveReport(reportOf('v2'));
    for (const chart of ['confusion', 'reliability', 'robustness']) {
      const res = await request(stack.app).get(`/v1/models/digitnet/v2/report/${chart}.svg`).expect(200);
      expect(res.headers['content-type']).toBe('image/svg+xml; charset=utf-8');
      const svg = (res.body as Buffer).toString('utf8');
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^]*<\/svg>\n$/);
      expect(svg).toContain('digitnet@v2');
    }
    const confusion = await request(stack.app).get(`/v1/models/digitnet/v2/report/confusion.svg?dataset=${FEEDBACK_HELDBACK_DATASET}`).expect(200);
    expect((confusion.body as Buffer).toString('utf8')).toContain(FEEDBACK_HELDBACK_DATASET);
    const compared = await request(stack.app).get('/v1/models/digitnet/v2/report/robustness.svg?compare_to=v1').expect(200);
    expect((compared.body as Buffer).toString('utf8')).toContain('digitnet@v1 (before)');

    const unknownSet = await request(stack.app).get('/v1/models/digitnet/v2/report/confusion.svg?dataset=nope').expect(400);
    expect(unknownSet.body.error.message).toContain('has no dataset "nope"');
    await request(stack.app).get('/v1/models/digitnet/v2/report/robustness.svg?compare_to=v7').expect(404);
    await request(stack.app).get('/v1/models/digitnet/v2/report/other.svg').expect(404);
  });

  it('carries live shadow-mode figures, joined with corrections, for a version workers shadowed', async () => {
    stack = await createTestStack();
    await register(stack, 'v1');
    await register(stack, 'v2');
    await stack.registry.saveReport(reportOf('v1'));
    await stack.registry.saveReport(reportOf('v2'));
    const shadowStats = new ShadowStats(stack.redis, stack.prefix, { resultTtlS: 600, maxCount: 100 });
    // digitnet@v2 shadowed one job of two images: it read 7 and 1 where v1 answered 7 and 2, and the owner said the second is a 1.
    await shadowStats.record('digitnet', 'v2', { jobId: 'job-a', active: [7, 2], shadow: [7, 1], activeMs: 3, shadowMs: 4 });
    await stack.feedback.add({ owner: 'tester', job_id: 'job-a', index: 1, label: 1, predicted: 2, model: { name: 'digitnet', version: 'v1' }, pixels: new Uint8Array(784) });
    const app = stack.appWith({ shadowStats });
    const shadowed = await request(app).get('/v1/models/digitnet/v2/report').expect(200);
    expect(shadowed.body.shadow).toMatchObject({ model: { name: 'digitnet', version: 'v2' }, jobs: 1, images: 2, agreement: 0.5, feedback: { count: 1, active_correct: 0, shadow_correct: 1 } });
    const active = await request(app).get('/v1/models/digitnet/v1/report').expect(200);
    expect(active.body).not.toHaveProperty('shadow');
  });

  it('is in the OpenAPI document, the pictures as image/svg+xml', async () => {
    stack = await createTestStack();
    const { body } = await request(stack.app).get('/openapi.json').expect(200);
    expect(body.paths['/v1/models/{name}/{version}/report'].get.responses['200'].content['application/json'].schema).toBeDefined();
    for (const chart of ['confusion', 'reliability', 'robustness']) {
      const svg = body.paths[`/v1/models/{name}/{version}/report/${chart}.svg`].get;
      expect(svg.responses['200'].content['image/svg+xml'].example).toMatch(/^<svg/);
      expect(svg.responses['404']).toBeDefined();
    }
  });
});

describe('POST /v1/trainings with a base', () => {
  it('queues a fine-tuning of a registered version, 404 for a base that does not exist, 422 for another architecture', async () => {
    stack = await createTestStack();
    const unknown = await request(stack.app).post('/v1/trainings').send({ base: 'digitnet@v1', dataset: 'mnist+feedback' }).expect(404);
    expect(unknown.body.error).toMatchObject({ code: 'MODEL_NOT_FOUND', message: 'no model digitnet@v1 to fine-tune' });
    const noActive = await request(stack.app).post('/v1/trainings').send({ base: 'digitnet' }).expect(404);
    expect(noActive.body.error.message).toBe('model digitnet has no active version to fine-tune');
    await request(stack.app).post('/v1/trainings').send({ base: 'digitnet@v1:int8' }).expect(400);
    expect(await stack.queues[1]!.count()).toBe(0);

    await register(stack, 'v1', 'tiny');
    const mismatch = await request(stack.app).post('/v1/trainings').send({ base: 'digitnet@v1', architecture: 'digitnet-bn' }).expect(422);
    expect(mismatch.body.error.code).toBe('UNPROCESSABLE');
    const queued = await request(stack.app).post('/v1/trainings').send({ base: 'digitnet@v1', dataset: 'mnist+feedback', augment: 'robust', limit: 500 }).expect(202);
    expect(queued.body.request).toMatchObject({ base: 'digitnet@v1', dataset: 'mnist+feedback', augment: 'robust', limit: 500 });
    expect(queued.body.request.architecture).toBeUndefined();
    await stack.registry.activate('digitnet', 'v1');
    await request(stack.app).post('/v1/trainings').send({ base: 'digitnet', dataset: 'feedback' }).expect(202);
    expect(await stack.queues[1]!.count()).toBe(2);
  });
});
