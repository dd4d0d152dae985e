/**
 * The report's pictures as plain SVG (pure functions of reports, no
 * dependencies): the confusion matrix as a heatmap, the reliability diagram
 * and accuracy per robustness degradation. Each has a <title> and <desc> for
 * screen readers, and every number it draws is also written as text, so the
 * picture can be read without colour. The reliability and robustness charts
 * take an optional second report (`compareTo`, drawn as "before") so a
 * before/after is one picture.
 */
import { DIGIT_CLASSES, MNIST_TEST_DATASET, ROBUSTNESS_DATASET_PREFIX, type ClassificationMetrics, type EvaluationReport } from '@digitq/contracts';

const FONT = 'font-family="system-ui, sans-serif"';
/** "After" (the report itself) and "before" (compareTo). */
const COLOUR = { after: '#1f6fb4', before: '#a8a8a8', grid: '#cccccc', text: '#222222', diagonal: '#d62728' } as const;

export interface ChartOptions {
  /** Which dataset of the report (default mnist-test). */
  dataset?: string;
  /** Another report drawn beside this one as "before". */
  compareTo?: EvaluationReport;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

const percent = (value: number, digits = 2) => `${(value * 100).toFixed(digits)}%`;
const modelName = (report: EvaluationReport) => `${report.model.name}@${report.model.version}`;

function datasetOf(report: EvaluationReport, dataset: string): ClassificationMetrics {
  const metrics = report.datasets[dataset];
  if (!metrics) throw new RangeError(`${modelName(report)}'s report has no dataset ${JSON.stringify(dataset)} (it has ${Object.keys(report.datasets).join(', ')})`);
  return metrics;
}

function svgDocument(width: number, height: number, title: string, desc: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="title desc" ${FONT}>`,
    `<title id="title">${escapeXml(title)}</title>`,
    `<desc id="desc">${escapeXml(desc)}</desc>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" fill="${COLOUR.text}" ${attributes}>${escapeXml(content)}</text>`;
}

const CONFUSION = { cell: 40, left: 70, top: 66, bottom: 50 } as const;

/** The confusion matrix (rows: true digit, columns: predicted) with every count written in its cell; shade = share of the row. */
export function renderConfusionSvg(report: EvaluationReport, options: Pick<ChartOptions, 'dataset'> = {}): string {
  const dataset = options.dataset ?? MNIST_TEST_DATASET;
  const metrics = datasetOf(report, dataset);
  const side = CONFUSION.cell * DIGIT_CLASSES;
  const width = CONFUSION.left + side + 20;
  const height = CONFUSION.top + side + CONFUSION.bottom;
  const title = `Confusion matrix of ${modelName(report)} on ${dataset}`;
  const errors = metrics.confusion.flatMap((row, t) => row.flatMap((n, p) => (t !== p && n > 0 ? [{ t, p, n }] : [])));
  errors.sort((a, b) => b.n - a.n);
  const desc =
    `Rows are the true digit, columns the predicted digit; ${metrics.count} images, accuracy ${percent(metrics.accuracy)}. ` +
    (errors.length > 0 ? `Most frequent errors: ${errors.slice(0, 5).map((e) => `${e.t} read as ${e.p} (${e.n})`).join(', ')}.` : 'No errors.');
  const body = [text(CONFUSION.left, 22, title, 'font-size="14" font-weight="bold"'), text(CONFUSION.left + side / 2, 44, 'predicted digit', 'font-size="12" text-anchor="middle"')];
  body.push(text(18, CONFUSION.top + side / 2, 'true digit', `font-size="12" text-anchor="middle" transform="rotate(-90 18 ${CONFUSION.top + side / 2})"`));
  metrics.confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    const y = CONFUSION.top + t * CONFUSION.cell;
    body.push(text(CONFUSION.left - 10, y + CONFUSION.cell / 2 + 4, String(t), 'font-size="12" text-anchor="end"'));
    row.forEach((n, p) => {
      const x = CONFUSION.left + p * CONFUSION.cell;
      const share = total > 0 ? n / total : 0;
      // Correct answers in blue, errors in red; a square root so a handful of errors still shows.
      const hue = t === p ? '31,111,180' : '214,39,40';
      const opacity = n === 0 ? 0 : Math.max(0.08, Math.sqrt(share));
      body.push(`<rect x="${x}" y="${y}" width="${CONFUSION.cell}" height="${CONFUSION.cell}" fill="rgb(${hue})" fill-opacity="${opacity.toFixed(3)}" stroke="${COLOUR.grid}"/>`);
      const light = opacity > 0.6;
      body.push(
        `<text x="${x + CONFUSION.cell / 2}" y="${y + CONFUSION.cell / 2 + 4}" font-size="11" text-anchor="middle" fill="${light ? '#ffffff' : COLOUR.text}">${n}</text>`,
      );
    });
  });
  for (let p = 0; p < DIGIT_CLASSES; p++) body.push(text(CONFUSION.left + p * CONFUSION.cell + CONFUSION.cell / 2, CONFUSION.top - 6, String(p), 'font-size="12" text-anchor="middle"'));
  body.push(text(CONFUSION.left, height - 18, `${metrics.count} images; accuracy ${percent(metrics.accuracy)}; error rate ${percent(metrics.error_rate)}`, 'font-size="12"'));
  return svgDocument(width, height, title, desc, body);
}

const RELIABILITY = { plot: 420, left: 60, top: 50, bottom: 80, right: 30 } as const;

/**
 * The reliability diagram: per confidence bin, the share right (bar) against
 * the diagonal a perfectly calibrated model would follow; the bin's image
 * count under each bar. With compareTo, its bars ("before") beside them.
 */
export function renderReliabilitySvg(report: EvaluationReport, options: ChartOptions = {}): string {
  const dataset = options.dataset ?? MNIST_TEST_DATASET;
  const metrics = datasetOf(report, dataset);
  const before = options.compareTo ? datasetOf(options.compareTo, dataset) : null;
  const size = RELIABILITY.plot;
  const width = RELIABILITY.left + size + RELIABILITY.right;
  const height = RELIABILITY.top + size + RELIABILITY.bottom;
  const sx = (v: number) => RELIABILITY.left + v * size;
  const sy = (v: number) => RELIABILITY.top + size - v * size;
  const title = `Reliability of ${modelName(report)} on ${dataset}`;
  const beforeText = before && options.compareTo ? `; before (${modelName(options.compareTo)}): ECE ${percent(before.ece)}` : '';
  const desc =
    `Share of right answers per confidence bin against the diagonal of perfect calibration. ECE ${percent(metrics.ece)}${beforeText}. ` +
    metrics.reliability
      .filter((bin) => bin.count > 0)
      .map((bin) => `${bin.lower.toFixed(2)}-${bin.upper.toFixed(2)}: ${bin.count} images, confidence ${percent(bin.confidence!, 1)}, right ${percent(bin.accuracy!, 1)}`)
      .join('; ') +
    '.';
  const body = [
    text(RELIABILITY.left, 20, title, 'font-size="14" font-weight="bold"'),
    text(RELIABILITY.left, 38, `expected calibration error ${percent(metrics.ece)}${beforeText}`, 'font-size="12"'),
    `<rect x="${sx(0)}" y="${sy(1)}" width="${size}" height="${size}" fill="none" stroke="${COLOUR.grid}"/>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const v = k / 5;
    body.push(`<line x1="${sx(0)}" y1="${sy(v)}" x2="${sx(1)}" y2="${sy(v)}" stroke="${COLOUR.grid}" stroke-width="0.5"/>`);
    body.push(text(sx(0) - 6, sy(v) + 4, v.toFixed(1), 'font-size="10" text-anchor="end"'));
    body.push(text(sx(v), sy(0) + 14, v.toFixed(1), 'font-size="10" text-anchor="middle"'));
  }
  const binWidth = size / metrics.reliability.length;
  const bars = (bins: ClassificationMetrics['reliability'], colour: string, offset: number, barWidth: number, series: string) => {
    bins.forEach((bin) => {
      if (bin.count === 0) return;
      const x = sx(bin.lower) + offset;
      const top = sy(bin.accuracy!);
      body.push(
        `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(sy(0) - top).toFixed(1)}" fill="${colour}" fill-opacity="0.8">` +
          `<title>${escapeXml(`${series} ${bin.lower.toFixed(2)}-${bin.upper.toFixed(2)}: ${bin.count} images, right ${percent(bin.accuracy!, 1)}`)}</title></rect>`,
      );
    });
  };
  const gap = 2;
  const half = (binWidth - gap) / 2;
  if (before) {
    bars(before.reliability, COLOUR.before, gap / 2, half, 'before');
    bars(metrics.reliability, COLOUR.after, gap / 2 + half, half, 'after');
  } else {
    bars(metrics.reliability, COLOUR.after, gap / 2, binWidth - gap, 'right');
  }
  // The bin's mean confidence as a tick across its bar: the gap between tick and bar top is the bin's miscalibration.
  metrics.reliability.forEach((bin) => {
    if (bin.count === 0) return;
    const y = sy(bin.confidence!).toFixed(1);
    // Across the report's own bar (the right half when a "before" bar stands beside it).
    const x1 = sx(bin.lower) + gap / 2 + (before ? half : 0);
    body.push(`<line x1="${x1.toFixed(1)}" y1="${y}" x2="${(sx(bin.upper) - gap / 2).toFixed(1)}" y2="${y}" stroke="${COLOUR.text}" stroke-width="2"/>`);
  });
  body.push(`<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="${COLOUR.diagonal}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
  // Counts under the axis, one per bin (rotated: 15 numbers of up to five digits in 420 px).
  metrics.reliability.forEach((bin) => {
    const x = sx(bin.lower) + binWidth / 2;
    const y = sy(0) + 24;
    body.push(text(x, y, String(bin.count), `font-size="9" text-anchor="end" transform="rotate(-60 ${x.toFixed(1)} ${y.toFixed(1)})"`));
  });
  body.push(text(sx(0.5), height - 8, 'confidence (top probability); images per bin under the axis', 'font-size="11" text-anchor="middle"'));
  body.push(text(14, sy(0.5), 'share right', `font-size="11" text-anchor="middle" transform="rotate(-90 14 ${sy(0.5).toFixed(1)})"`));
  const legend = before ? [['before', COLOUR.before], ['after', COLOUR.after]] : [['share right', COLOUR.after]];
  legend.forEach(([name, colour], i) => {
    const y = sy(1) + 16 + i * 16;
    body.push(`<rect x="${sx(0) + 10}" y="${y - 9}" width="10" height="10" fill="${colour}"/>`, text(sx(0) + 26, y, name!, 'font-size="11"'));
  });
  body.push(text(sx(0) + 10, sy(1) + 16 + legend.length * 16, 'black tick: mean confidence in the bin', 'font-size="11"'));
  body.push(text(sx(0) + 10, sy(1) + 32 + legend.length * 16, 'dashed: perfect calibration', 'font-size="11"'));
  return svgDocument(width, height, title, desc, body);
}

const ROBUSTNESS = { left: 190, barArea: 360, right: 200, top: 56, row: 30, comparedRow: 40, bottom: 40, legend: 24 } as const;

/** The datasets a robustness chart shows: the MNIST test set first, then every degradation in the report's order. */
function robustnessDatasets(report: EvaluationReport): string[] {
  const names = Object.keys(report.datasets);
  return [...names.filter((n) => n === MNIST_TEST_DATASET), ...names.filter((n) => n.startsWith(ROBUSTNESS_DATASET_PREFIX))];
}

/** Accuracy per degradation of the robustness suite (and on the MNIST test set), each bar with its figure; with compareTo, before and after per row. */
export function renderRobustnessSvg(report: EvaluationReport, options: Pick<ChartOptions, 'compareTo'> = {}): string {
  const before = options.compareTo ?? null;
  const datasets = robustnessDatasets(report);
  const rowHeight = before ? ROBUSTNESS.comparedRow : ROBUSTNESS.row;
  const width = ROBUSTNESS.left + ROBUSTNESS.barArea + ROBUSTNESS.right;
  const height = ROBUSTNESS.top + datasets.length * rowHeight + ROBUSTNESS.bottom + (before ? ROBUSTNESS.legend : 0);
  const plotBottom = ROBUSTNESS.top + datasets.length * rowHeight;
  const sx = (accuracy: number) => ROBUSTNESS.left + accuracy * ROBUSTNESS.barArea;
  const title = before ? `Robustness: ${modelName(before)} (before) and ${modelName(report)} (after)` : `Robustness of ${modelName(report)}`;
  const rows = datasets.map((dataset) => {
    const after = report.datasets[dataset]!;
    const previous = before?.datasets[dataset] ?? null;
    const name = dataset.startsWith(ROBUSTNESS_DATASET_PREFIX) ? dataset.slice(ROBUSTNESS_DATASET_PREFIX.length) : dataset;
    return { dataset, name, label: after.label, after, previous };
  });
  const desc =
    'Accuracy per dataset: ' +
    rows
      .map(
        (r) =>
          `${r.name} ${r.previous ? `${percent(r.previous.accuracy)} before, ` : ''}${percent(r.after.accuracy)}${r.previous ? ' after' : ''} (${r.after.count} images)` +
          (r.previous && r.previous.error_rate > 0 ? `, error rate x${(r.after.error_rate / r.previous.error_rate).toFixed(2)}` : ''),
      )
      .join('; ') +
    '.';
  const body = [text(10, 22, title, 'font-size="14" font-weight="bold"'), text(10, 40, 'accuracy on each dataset (robustness/<id>: MNIST test digits degraded, then preprocessed as uploads)', 'font-size="11"')];
  for (let k = 0; k <= 4; k++) {
    const v = k / 4;
    body.push(`<line x1="${sx(v)}" y1="${ROBUSTNESS.top - 4}" x2="${sx(v)}" y2="${plotBottom + 4}" stroke="${COLOUR.grid}" stroke-width="0.5"/>`);
    body.push(text(sx(v), plotBottom + 18, percent(v, 0), 'font-size="10" text-anchor="middle"'));
  }
  rows.forEach((row, i) => {
    const y = ROBUSTNESS.top + i * rowHeight;
    body.push(`<g><title>${escapeXml(row.label ?? row.name)}</title>`);
    body.push(text(ROBUSTNESS.left - 8, y + rowHeight / 2 + 4, row.name, 'font-size="11" text-anchor="end"'));
    const bar = (metrics: ClassificationMetrics, top: number, barHeight: number, colour: string, caption: string) => {
      body.push(`<rect x="${sx(0)}" y="${top.toFixed(1)}" width="${(sx(metrics.accuracy) - sx(0)).toFixed(1)}" height="${barHeight}" fill="${colour}"/>`);
      body.push(text(sx(1) + 6, top + barHeight - 3, caption, 'font-size="10"'));
    };
    if (row.previous) {
      const ratio = row.previous.error_rate > 0 ? ` (errors x${(row.after.error_rate / row.previous.error_rate).toFixed(2)})` : '';
      bar(row.previous, y + 4, 15, COLOUR.before, `before ${percent(row.previous.accuracy)}`);
      bar(row.after, y + 20, 15, COLOUR.after, `after ${percent(row.after.accuracy)}${ratio}`);
    } else {
      bar(row.after, y + 5, rowHeight - 10, COLOUR.after, percent(row.after.accuracy));
    }
    body.push('</g>');
  });
  if (before) {
    const y = height - 10;
    body.push(`<rect x="${ROBUSTNESS.left}" y="${y - 9}" width="10" height="10" fill="${COLOUR.before}"/>`, text(ROBUSTNESS.left + 14, y, `before: ${modelName(before)}`, 'font-size="11"'));
    body.push(`<rect x="${ROBUSTNESS.left + 180}" y="${y - 9}" width="10" height="10" fill="${COLOUR.after}"/>`, text(ROBUSTNESS.left + 194, y, `after: ${modelName(report)}`, 'font-size="11"'));
  }
  return svgDocument(width, height, title, desc, body);
}
