/** Plain-text renderings of API objects for the CLI: aligned tables and one-line summaries. */
import type { JobView, ModelList, PredictResponse, TrainingView } from '@digitq/contracts';

/** Columns padded to their widest cell, separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export const percent = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);

export function modelName(model: { name: string; version: string | null; variant?: string } | null): string {
  if (!model) return '-';
  return `${model.name}${model.version ? `@${model.version}` : ''}${model.variant ? `:${model.variant}` : ''}`;
}

/** A prediction's digit, or `?` when the model was not sure enough (prediction null, reason "uncertain"). */
export const digitText = (prediction: number | null) => (prediction === null ? '?' : String(prediction));

export interface PredictRow {
  file: string;
  result: PredictResponse | null;
  error: string | null;
}

export function predictionTable(rows: PredictRow[]): string {
  return table(
    ['FILE', 'DIGIT', 'CONFIDENCE', 'MODEL'],
    rows.map((r) => (r.result ? [r.file, digitText(r.result.prediction), percent(r.result.confidence), modelName(r.result.model)] : [r.file, 'error', r.error ?? '', ''])),
  );
}

/** A job: its summary line, then one row per image once it has predictions. */
export function jobText(job: JobView, files?: string[]): string {
  const head = `job ${job.id} ${job.status}${job.model ? ` (${modelName(job.model)})` : ''}${job.error ? `: ${job.error.code}: ${job.error.message}` : ''}\n`;
  if (!job.output) return head;
  return (
    head +
    table(
      ['#', 'FILE', 'DIGIT', 'CONFIDENCE'],
      job.output.predictions.map((p, i) => [String(i + 1), files?.[i] ?? '-', digitText(p.prediction), percent(p.confidence)]),
    )
  );
}

export function trainingText(training: TrainingView): string {
  const model = training.model ? ` → ${training.model.name}@${training.model.version}, test accuracy ${percent(training.model.test_accuracy)}${training.model.promoted ? ', active' : ''}` : '';
  const error = training.error ? `: ${training.error.code}: ${training.error.message}` : '';
  return `training ${training.id} ${training.status}${model}${error}\n`;
}

export function modelsTable(list: ModelList): string {
  return table(
    ['MODEL', 'ACTIVE', 'ARCHITECTURE', 'TEST ACCURACY', 'CREATED'],
    list.data.flatMap((model) =>
      model.versions.map((v) => [`${model.name}@${v.version}`, v.active ? '*' : '', v.architecture, percent(v.metrics.test_accuracy), v.created_at.slice(0, 19).replace('T', ' ')]),
    ),
  );
}
