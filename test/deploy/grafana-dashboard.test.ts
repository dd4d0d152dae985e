/**
 * deploy/grafana/digitq.json against the metrics digitq exposes: every
 * panel's PromQL names only metrics the API's or a worker's registry has
 * (built here as the processes build them), histogram series (_bucket, _sum,
 * _count) only of histograms, and groups and matches only on labels those
 * metrics carry. A renamed metric or label fails here, not on a blank chart.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createApiMetrics } from '../../apps/api/src/metrics.ts';
import { createWorkerMetrics } from '../../apps/worker/src/metrics.ts';

const DASHBOARD = new URL('../../deploy/grafana/digitq.json', import.meta.url);
const HISTOGRAM_SERIES = /_(bucket|sum|count)$/;
/** Labels Prometheus adds at scrape (instance, job), histogram buckets' `le`, and the worker registry's default labels. */
const ALWAYS_THERE = new Set(['instance', 'job', 'le', 'device', 'backend']);
/** The panels an operator looks for first (issue 15), and shadow mode's (issue 16). */
const REQUIRED_METRICS = [
  'digitq_http_requests_total',
  'digitq_http_request_duration_seconds',
  'digitq_http_rejections_total',
  'digitq_queue_jobs',
  'digitq_job_queue_seconds',
  'digitq_inference_compute_seconds',
  'digitq_inference_batch_images',
  'digitq_inference_requests_total',
  'digitq_workers_live',
  'digitq_tf_tensors',
  // Shadow mode (issue 16): agreement, jobs by outcome, compute time active vs shadow.
  'digitq_shadow_agreements_total',
  'digitq_shadow_predictions_total',
  'digitq_shadow_jobs_total',
  'digitq_shadow_compute_seconds',
];

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}

interface Exposed {
  type: string;
  labels: Set<string>;
}

/** Every metric the API and a worker expose, with its type and label names (no scrape: nothing is collected). */
function exposedMetrics(): Map<string, Exposed> {
  const apiRegistry = new Registry();
  collectDefaultMetrics({ register: apiRegistry });
  // The Redis connection and queues are only read at scrape time, which this never does.
  createApiMetrics({ registry: apiRegistry, queues: [], redis: {} as Redis, prefix: 'dashboard-test' });
  const worker = createWorkerMetrics({ device: 'cpu', backend: 'wasm' });
  const exposed = new Map<string, Exposed>();
  for (const registry of [apiRegistry, worker.registry]) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, type, labelNames } = metric as unknown as { name: string; type: string; labelNames: string[] };
      exposed.set(name, { type: String(type), labels: new Set(labelNames) });
    }
  }
  return exposed;
}

/** The metric a series name belongs to: `x_bucket` is histogram x's; anything else is itself. */
function metricOf(series: string, exposed: Map<string, Exposed>): { name: string; histogramSeries: boolean } {
  if (exposed.has(series)) return { name: series, histogramSeries: false };
  return { name: series.replace(HISTOGRAM_SERIES, ''), histogramSeries: HISTOGRAM_SERIES.test(series) };
}

/** Series names in an expression: identifiers followed by `{`, `[` or `)` or standing alone, minus functions and keywords. */
function seriesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const names = withoutStrings.match(/\b(?:digitq|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
  return [...new Set(names)];
}

/** Labels an expression groups by or matches on. */
function labelsIn(expr: string): string[] {
  const grouped = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((label) => label.trim()).filter(Boolean));
  const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!));
  return [...new Set([...grouped, ...matched])];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');

describe('deploy/grafana/digitq.json', () => {
  it('is a dashboard whose panels each have an id, a place and queries on the Prometheus datasource variable', () => {
    expect(dashboard).toMatchObject({ uid: 'digitq', title: 'digitq' });
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    expect(queryPanels.length).toBeGreaterThan(0);
    for (const panel of queryPanels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(new Set(panel.targets!.map((t) => t.refId)).size, panel.title).toBe(panel.targets!.length);
    }
  });

  it("names only metrics and labels the API's and workers' registries expose", () => {
    const exposed = exposedMetrics();
    const problems: string[] = [];
    for (const panel of queryPanels) {
      for (const { expr } of panel.targets!) {
        const series = seriesIn(expr);
        if (series.length === 0) problems.push(`${panel.title}: no metric in ${expr}`);
        const labels = new Set(ALWAYS_THERE);
        for (const each of series) {
          const { name, histogramSeries } = metricOf(each, exposed);
          const metric = exposed.get(name);
          if (!metric) problems.push(`${panel.title}: ${each} is not exposed`);
          else if (histogramSeries && metric.type !== 'histogram') problems.push(`${panel.title}: ${each}, but ${name} is a ${metric.type}`);
          else if (!histogramSeries && metric.type === 'histogram') problems.push(`${panel.title}: ${each} is a histogram; query its _bucket, _sum or _count`);
          for (const label of metric?.labels ?? []) labels.add(label);
        }
        for (const label of labelsIn(expr)) if (!labels.has(label)) problems.push(`${panel.title}: label ${label} is on none of ${series.join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('charts request rate and latency, rejections, queue depth, queue vs compute time, batch size, images/s, workers, tensors and shadow mode', () => {
    const exposed = exposedMetrics();
    const charted = new Set(queryPanels.flatMap((p) => p.targets!.flatMap((t) => seriesIn(t.expr).map((s) => metricOf(s, exposed).name))));
    expect(REQUIRED_METRICS.filter((name) => !charted.has(name))).toEqual([]);
  });

  it('fails on a name that is not exposed (the check can fail)', () => {
    const exposed = exposedMetrics();
    expect(exposed.has(metricOf('digitq_job_wait_seconds_bucket', exposed).name)).toBe(false);
    expect(labelsIn('sum by (model) (rate(x{queue="a"}[1m]))')).toEqual(['model', 'queue']);
  });
});
