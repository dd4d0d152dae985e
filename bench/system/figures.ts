/**
 * The figures the report shows, each a median and min-max over repeats,
 * digitq's set against its ceiling, and the goals checked on them.
 * Declared as tables: a figure says where its numbers come from, a goal
 * says which figure, against what, and how.
 */
import type { Results } from './results.ts';
import { SCENARIOS, type RepeatResult, type ScenarioName, type ScenarioResult } from './scenarios.ts';
import { round, summarize, type Summary } from './stats.ts';

export interface Figure {
  id: string;
  label: string;
  unit: string;
  summary: Summary;
  /** Id of the figure this one is measured against. */
  ceiling?: string;
}

type Metric = 'req_per_s' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'errors' | 'completed_jobs_per_s' | 'completed_images_per_s';

const METRIC_LABELS: Record<Metric, string> = {
  req_per_s: 'req/s',
  p50_ms: 'p50',
  p95_ms: 'p95',
  p99_ms: 'p99',
  errors: 'errors',
  completed_jobs_per_s: 'jobs completed/s',
  completed_images_per_s: 'images completed/s',
};

function metricLabel(scenario: ScenarioName, metric: Metric): string {
  return `${SCENARIOS[scenario].label}: ${SCENARIOS[scenario].async && metric === 'req_per_s' ? 'submits/s' : METRIC_LABELS[metric]}`;
}

const METRIC_UNITS: Record<Metric, string> = {
  req_per_s: 'req/s',
  p50_ms: 'ms',
  p95_ms: 'ms',
  p99_ms: 'ms',
  errors: 'errors',
  completed_jobs_per_s: 'jobs/s',
  completed_images_per_s: 'images/s',
};

function scenarioOf(list: readonly ScenarioResult[] | undefined, scenario: ScenarioName): ScenarioResult | undefined {
  return list?.find((s) => s.scenario === scenario);
}

function metricSummary(result: ScenarioResult | undefined, metric: Metric): Summary | null {
  if (!result) return null;
  const values = result.repeats.map((r: RepeatResult) => r[metric]).filter((v): v is number => typeof v === 'number');
  return values.length === 0 ? null : summarize(values);
}

/** The batch at which the bare model is fastest (by median) and its repeats. */
export function bestBatch(results: Results): { batch: number; summary: Summary } | null {
  const rows = results.ceilings.B?.rows ?? [];
  let best: { batch: number; summary: Summary } | null = null;
  for (const row of rows) {
    const summary = summarize(row.images_per_s);
    if (!best || summary.median > best.summary.median) best = { batch: row.batch, summary };
  }
  return best;
}

export function computeFigures(results: Results): Figure[] {
  const figures: Figure[] = [];
  const add = (id: string, label: string, unit: string, summary: Summary | null, ceiling?: string) => {
    if (summary) figures.push({ id, label, unit, summary, ...(ceiling ? { ceiling } : {}) });
  };
  const fromScenario = (prefix: string, labelPrefix: string, list: readonly ScenarioResult[] | undefined, scenario: ScenarioName, metric: Metric, ceiling?: string) =>
    add(`${prefix}.${scenario}.${metric}`, `${labelPrefix}${metricLabel(scenario, metric)}`, METRIC_UNITS[metric], metricSummary(scenarioOf(list, scenario), metric), ceiling);

  // Ceilings.
  const a = results.ceilings.A;
  if (a) {
    add('A.completed', 'A bare BullMQ, empty processor: completed', 'jobs/s', summarize(a.map((r) => round(r.completed_per_s))));
    add('A.added', 'A bare BullMQ: added (64 adds in flight)', 'jobs/s', summarize(a.map((r) => round(r.added_per_s))));
  }
  const b = results.ceilings.B;
  if (b) {
    const batch1 = b.rows.find((r) => r.batch === 1);
    if (batch1) add('B.batch1', 'B bare model, batch 1', 'images/s', summarize(batch1.images_per_s.map((v) => round(v))));
    const best = bestBatch(results);
    if (best) add('B.best', `B bare model, best batch (${best.batch})`, 'images/s', summarize(best.summary.values.map((v) => round(v))));
  }
  const c = results.ceilings.C;
  for (const metric of ['req_per_s', 'p50_ms', 'p95_ms', 'p99_ms', 'errors'] as const) fromScenario('C', 'C ', c, 'sync-small', metric);
  for (const metric of ['req_per_s', 'errors', 'completed_jobs_per_s'] as const) fromScenario('C', 'C ', c, 'async-small', metric);
  for (const metric of ['p50_ms', 'p99_ms'] as const) fromScenario('C', 'C ', c, 'single-client', metric);

  // digitq, default configuration.
  const base = results.digitq.base?.scenarios;
  const d = (scenario: ScenarioName, metric: Metric, ceiling?: string) => fromScenario('digitq', '', base, scenario, metric, ceiling);
  for (const scenario of ['sync-small', 'sync-drawing', 'sync-photo', 'v2-small'] as const) {
    d(scenario, 'req_per_s', 'C.sync-small.req_per_s');
    d(scenario, 'p50_ms', 'C.sync-small.p50_ms');
    d(scenario, 'p95_ms', 'C.sync-small.p95_ms');
    d(scenario, 'p99_ms', 'C.sync-small.p99_ms');
    d(scenario, 'errors', 'C.sync-small.errors');
  }
  d('async-small', 'req_per_s', 'C.async-small.req_per_s');
  d('async-small', 'completed_jobs_per_s', 'A.completed');
  d('async-small', 'errors', 'C.async-small.errors');
  d('async-32', 'req_per_s');
  d('async-32', 'completed_jobs_per_s');
  d('async-32', 'completed_images_per_s', 'B.best');
  d('async-32', 'errors');
  d('single-client', 'p50_ms', 'C.single-client.p50_ms');
  d('single-client', 'p99_ms', 'C.single-client.p99_ms');
  const drain = results.digitq.base?.drain;
  if (drain) add('digitq.drain.images_per_s', `worker alone, draining ${drain.jobs_per_repeat} jobs x ${drain.images_per_job} images`, 'images/s', summarize(drain.repeats.map((r) => r.images_per_s)), 'B.best');

  // digitq, other configurations (sync small PNG), and the seed's design.
  for (const [name, config] of Object.entries(results.digitq)) {
    if (name === 'base' || name.startsWith('profile')) continue;
    for (const metric of ['req_per_s', 'p99_ms', 'errors'] as const) {
      fromScenario(`digitq-${name}`, `${name}: `, config.scenarios, 'sync-small', metric, `C.sync-small.${metric}`);
    }
  }
  for (const metric of ['req_per_s', 'p50_ms', 'p99_ms', 'errors'] as const) fromScenario('seed', 'seed design: ', results.ceilings.seed, 'sync-small', metric, `C.sync-small.${metric}`);
  return figures;
}

export type GoalKind =
  /** median >= factor x the ceiling's median */
  | { kind: 'ratio-at-least'; factor: number }
  /** median <= factor x the ceiling's median */
  | { kind: 'ratio-at-most'; factor: number }
  /** median <= limit */
  | { kind: 'at-most'; limit: number }
  /** every repeat <= limit */
  | { kind: 'all-at-most'; limit: number };

export interface GoalSpec {
  text: string;
  figure: string;
  rule: GoalKind;
  /** The scenario whose CPU shares and profile explain a miss. */
  scenario: ScenarioName | 'drain';
}

/** The goals (in the benchmark, never in timed tests). */
export const GOALS: readonly GoalSpec[] = [
  { text: 'sync /predict small PNG >= 0.5 x C-sync', figure: 'digitq.sync-small.req_per_s', rule: { kind: 'ratio-at-least', factor: 0.5 }, scenario: 'sync-small' },
  { text: 'sync /predict small PNG: 0 errors', figure: 'digitq.sync-small.errors', rule: { kind: 'all-at-most', limit: 0 }, scenario: 'sync-small' },
  { text: "sync /predict small PNG p99 <= 2 x C-sync's p99 (64 connections)", figure: 'digitq.sync-small.p99_ms', rule: { kind: 'ratio-at-most', factor: 2 }, scenario: 'sync-small' },
  { text: 'single-client p50 <= 5 ms', figure: 'digitq.single-client.p50_ms', rule: { kind: 'at-most', limit: 5 }, scenario: 'single-client' },
  { text: 'async submit >= 0.8 x C-async', figure: 'digitq.async-small.req_per_s', rule: { kind: 'ratio-at-least', factor: 0.8 }, scenario: 'async-small' },
  { text: '280x280 drawing sync >= 0.4 x C-sync', figure: 'digitq.sync-drawing.req_per_s', rule: { kind: 'ratio-at-least', factor: 0.4 }, scenario: 'sync-drawing' },
  { text: "280x280 drawing sync p99 <= 2.5 x C-sync's p99", figure: 'digitq.sync-drawing.p99_ms', rule: { kind: 'ratio-at-most', factor: 2.5 }, scenario: 'sync-drawing' },
  { text: 'worker under load (async, 32 images per job) >= 0.9 x bare model at its best batch', figure: 'digitq.async-32.completed_images_per_s', rule: { kind: 'ratio-at-least', factor: 0.9 }, scenario: 'async-32' },
  { text: 'worker draining a backlog (API idle) >= 0.9 x bare model at its best batch', figure: 'digitq.drain.images_per_s', rule: { kind: 'ratio-at-least', factor: 0.9 }, scenario: 'drain' },
];

export interface GoalResult {
  text: string;
  figure: string;
  scenario: GoalSpec['scenario'];
  /** The value the goal is judged on (a median, or the worst repeat for all-at-most). */
  measured: number | null;
  /** The bound it must meet, in the figure's unit. */
  target: number | null;
  ratio: number | null;
  met: boolean | null;
  /** How far off, in words, when missed. */
  missed_by: string | null;
}

export function ratioOf(figures: readonly Figure[], figure: Figure): number | null {
  const ceiling = figure.ceiling ? figures.find((f) => f.id === figure.ceiling) : undefined;
  if (!ceiling || ceiling.summary.median === 0) return null;
  return round(figure.summary.median / ceiling.summary.median, 3);
}

const percent = (x: number) => `${round(100 * x)}%`;
const num = (x: number) => String(x >= 100 ? Math.round(x) : round(x, 2));

export function checkGoals(figures: readonly Figure[]): GoalResult[] {
  return GOALS.map((goal) => {
    const figure = figures.find((f) => f.id === goal.figure);
    const ceiling = figure?.ceiling ? figures.find((f) => f.id === figure.ceiling) : undefined;
    const base = { text: goal.text, figure: goal.figure, scenario: goal.scenario };
    if (!figure) return { ...base, measured: null, target: null, ratio: null, met: null, missed_by: 'not measured' };
    const ratio = ratioOf(figures, figure);
    const rule = goal.rule;
    if (rule.kind === 'ratio-at-least' || rule.kind === 'ratio-at-most') {
      if (!ceiling || ratio === null) return { ...base, measured: figure.summary.median, target: null, ratio: null, met: null, missed_by: 'no ceiling measured' };
      const target = round(rule.factor * ceiling.summary.median, 2);
      const met = rule.kind === 'ratio-at-least' ? ratio >= rule.factor : ratio <= rule.factor;
      const missedBy = met
        ? null
        : rule.kind === 'ratio-at-least'
          ? `${round(ratio, 2)} x the ceiling, needs ${rule.factor} x: ${percent(1 - figure.summary.median / target)} short (${num(figure.summary.median)} vs ${num(target)} ${figure.unit})`
          : `${round(ratio, 2)} x the ceiling, allowed ${rule.factor} x: ${percent(figure.summary.median / target - 1)} over (${num(figure.summary.median)} vs ${num(target)} ${figure.unit})`;
      return { ...base, measured: figure.summary.median, target, ratio, met, missed_by: missedBy };
    }
    const measured = rule.kind === 'all-at-most' ? figure.summary.max : figure.summary.median;
    const met = measured <= rule.limit;
    const missedBy = met ? null : rule.limit === 0 ? `${measured} ${figure.unit} in the worst repeat` : `${num(measured)} vs ${rule.limit} ${figure.unit}: ${percent(measured / rule.limit - 1)} over`;
    return { ...base, measured, target: rule.limit, ratio, met, missed_by: missedBy };
  });
}
