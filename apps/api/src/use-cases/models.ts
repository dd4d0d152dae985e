/**
 * The registry's model versions, their metrics, their evaluation reports, and
 * which one is active. Activating a version makes every inference worker load
 * it and swap it in between batches (who may activate is the caller's
 * business: the HTTP layer puts it behind the admin guard).
 */
import { AppError, MNIST_TEST_DATASET, type EvaluationReport, type ModelList, type ModelMetadata, type ModelVariant, type ModelVersionView } from '@digitq/contracts';
import { renderConfusionSvg, renderReliabilitySvg, renderRobustnessSvg } from '@digitq/evaluation';
import type { FeedbackLabel, FeedbackStore, ShadowStats } from '@digitq/jobs';
import { RegistryError } from '@digitq/registry';
import type { IntakeDeps } from './deps.ts';

export interface ModelVersionRef {
  name: string;
  version: string;
}

/** The version's metadata, or MODEL_NOT_FOUND. */
async function findVersion(ref: ModelVersionRef, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelMetadata> {
  const metadata = await deps.registry.get(ref.name, ref.version);
  if (!metadata) throw new AppError('MODEL_NOT_FOUND', `no model ${ref.name}@${ref.version}`);
  return metadata;
}

export async function listModels(deps: Pick<IntakeDeps, 'registry'>): Promise<ModelList> {
  return deps.registry.list();
}

export async function getModel(ref: ModelVersionRef, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelVersionView> {
  const metadata = await findVersion(ref, deps);
  const active = await deps.registry.activeVersion(metadata.name);
  return { ...metadata, active: active === metadata.version };
}

/** Makes `ref` (as `variant`, fp32 by default) what every worker serves for its model; MODEL_NOT_FOUND for a variant the version lacks. */
export async function activateModel(ref: ModelVersionRef & { variant?: ModelVariant }, deps: Pick<IntakeDeps, 'registry'>): Promise<ModelVersionView> {
  const metadata = await findVersion(ref, deps);
  try {
    await deps.registry.activate(metadata.name, metadata.version, ref.variant);
  } catch (error) {
    if (error instanceof RegistryError && error.code === 'MODEL_NOT_FOUND') throw new AppError('MODEL_NOT_FOUND', error.message, {}, { cause: error });
    throw error;
  }
  return { ...metadata, active: true };
}

/**
 * Live shadow-mode figures of a version (ShadowStats in @digitq/jobs, joined
 * with the users' corrections), when it is or was shadowed; null otherwise.
 */
export type ReadShadowFigures = (name: string, version: string) => Promise<Record<string, unknown> | null>;

/**
 * The shadow figures of a version from what inference workers recorded
 * (SHADOW_MODEL), with every correction joined on job and image; null when
 * no shadowed job of it is still kept. Corrections are read only then.
 */
export function shadowFiguresOf(stats: Pick<ShadowStats, 'read'>, feedback: Pick<FeedbackStore, 'entries'>): ReadShadowFigures {
  return async (name, version) => {
    if ((await stats.read(name, version)).jobs === 0) return null;
    const labels: FeedbackLabel[] = [];
    for await (const entry of feedback.entries()) labels.push({ job_id: entry.job_id, index: entry.index, label: entry.label });
    return { ...(await stats.read(name, version, labels)) };
  };
}

/**
 * The evaluation report computed when the version was registered, with its
 * shadow section read now when the version has shadow figures. MODEL_NOT_FOUND
 * when the version or its report does not exist (a version registered before
 * reports existed has none until `npm run model:report` makes one).
 */
export async function getModelReport(ref: ModelVersionRef, deps: Pick<IntakeDeps, 'registry'> & { shadowFigures?: ReadShadowFigures }): Promise<EvaluationReport> {
  const metadata = await findVersion(ref, deps);
  const report = await deps.registry.getReport(metadata.name, metadata.version);
  if (!report) throw new AppError('MODEL_NOT_FOUND', `model ${ref.name}@${ref.version} has no evaluation report`);
  const shadow = await deps.shadowFigures?.(metadata.name, metadata.version);
  return shadow ? { ...report, shadow } : report;
}

/** The report's pictures: a confusion matrix, the reliability diagram, accuracy per robustness degradation. */
export const REPORT_CHARTS = ['confusion', 'reliability', 'robustness'] as const;
export type ReportChart = (typeof REPORT_CHARTS)[number];

export interface ReportChartRef extends ModelVersionRef {
  chart: ReportChart;
  /** confusion and reliability: which dataset of the report (default mnist-test). */
  dataset?: string;
  /** reliability and robustness: another version of the model, drawn as "before". */
  compareTo?: string;
}

/** A report's picture as an SVG document (the evaluation package draws it). */
export function renderReportChart(report: EvaluationReport, chart: ReportChart, options: { dataset?: string; compareTo?: EvaluationReport } = {}): string {
  switch (chart) {
    case 'confusion':
      return renderConfusionSvg(report, { dataset: options.dataset });
    case 'reliability':
      return renderReliabilitySvg(report, options);
    case 'robustness':
      return renderRobustnessSvg(report, { compareTo: options.compareTo });
  }
}

/**
 * One of a version's report pictures; MODEL_NOT_FOUND as getModelReport (for
 * `compareTo` too), VALIDATION_FAILED for a dataset the report does not have.
 */
export async function renderModelReportChart(ref: ReportChartRef, deps: Pick<IntakeDeps, 'registry'>): Promise<string> {
  const report = await getModelReport(ref, deps);
  if (ref.dataset && !report.datasets[ref.dataset]) {
    throw new AppError('VALIDATION_FAILED', `the report of ${ref.name}@${ref.version} has no dataset ${JSON.stringify(ref.dataset)} (it has ${Object.keys(report.datasets).join(', ')})`);
  }
  const compareTo = ref.compareTo ? await getModelReport({ name: ref.name, version: ref.compareTo }, deps) : undefined;
  if (compareTo && ref.chart === 'reliability' && !compareTo.datasets[ref.dataset ?? MNIST_TEST_DATASET]) {
    throw new AppError('VALIDATION_FAILED', `the report of ${ref.name}@${ref.compareTo} has no dataset ${JSON.stringify(ref.dataset ?? MNIST_TEST_DATASET)} to compare`);
  }
  return renderReportChart(report, ref.chart, { dataset: ref.dataset, compareTo });
}
