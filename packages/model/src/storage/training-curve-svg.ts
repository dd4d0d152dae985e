/** A dependency-free SVG of loss and accuracy per epoch, written next to each model. */
import type { EpochRecord } from '../train.ts';

const WIDTH = 720;
const HEIGHT = 300;
const MARGIN = { top: 30, right: 20, bottom: 40, left: 55 };

interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

/** Where the legend goes: away from where the curves run (loss falls to the bottom, accuracy rises to the top). */
type LegendCorner = 'top-right' | 'bottom-right';

function panel(x0: number, title: string, series: Series[], epochs: number, yMin: number, yMax: number, legend: LegendCorner): string {
  const w = WIDTH / 2 - MARGIN.left - MARGIN.right;
  const h = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (e: number) => x0 + MARGIN.left + (epochs <= 1 ? w / 2 : ((e - 1) / (epochs - 1)) * w);
  const sy = (v: number) => MARGIN.top + h - ((v - yMin) / (yMax - yMin || 1)) * h;
  const parts = [
    `<text x="${x0 + MARGIN.left}" y="18" font-size="13" font-weight="bold">${title}</text>`,
    `<rect x="${x0 + MARGIN.left}" y="${MARGIN.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    parts.push(`<text x="${x0 + MARGIN.left - 6}" y="${sy(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(yMax - yMin < 0.1 ? 4 : 3)}</text>`);
  }
  parts.push(`<text x="${x0 + MARGIN.left + w / 2}" y="${HEIGHT - 8}" font-size="11" text-anchor="middle">epoch (1-${epochs})</text>`);
  series.forEach((s, i) => {
    const points = s.values.flatMap((v, e) => (v === null ? [] : [`${sx(e + 1).toFixed(1)},${sy(v).toFixed(1)}`]));
    if (points.length > 0) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points.join(' ')}"/>`);
    const y = legend === 'top-right' ? MARGIN.top + 14 + i * 13 : MARGIN.top + h - 8 - (series.length - 1 - i) * 13;
    parts.push(`<text x="${x0 + MARGIN.left + w - 8}" y="${y}" font-size="10" text-anchor="end" fill="${s.color}">${s.label}</text>`);
  });
  return parts.join('\n');
}

function bounds(values: (number | null)[], pad: number): [number, number] {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (present.length === 0) return [0, 1];
  const lo = Math.min(...present);
  const hi = Math.max(...present);
  const margin = Math.max((hi - lo) * pad, 1e-4);
  return [Math.max(0, lo - margin), hi + margin];
}

export function renderTrainingCurveSvg(history: readonly EpochRecord[], title: string): string {
  const epochs = history.length;
  const loss: Series[] = [
    { label: 'train loss', color: '#1f77b4', values: history.map((h) => h.loss) },
    { label: 'validation loss', color: '#ff7f0e', values: history.map((h) => h.val_loss) },
  ];
  const accuracy: Series[] = [
    { label: 'train accuracy', color: '#1f77b4', values: history.map((h) => h.accuracy) },
    { label: 'validation accuracy', color: '#ff7f0e', values: history.map((h) => h.val_accuracy) },
    { label: 'test accuracy', color: '#2ca02c', values: history.map((h) => h.test_accuracy) },
  ];
  const [lossMin, lossMax] = bounds(loss.flatMap((s) => s.values), 0.1);
  const [accMin, accMax] = bounds(accuracy.flatMap((s) => s.values), 0.1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif">`,
    `<title>${title}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, `${title}: loss`, loss, epochs, lossMin, lossMax, 'top-right'),
    panel(WIDTH / 2, `${title}: accuracy`, accuracy, epochs, accMin, Math.min(1, accMax), 'bottom-right'),
    '</svg>',
    '',
  ].join('\n');
}
