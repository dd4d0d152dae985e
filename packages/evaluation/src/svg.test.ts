import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { evaluationReportSchema, type EvaluationReport } from '@digitq/contracts';
import { classificationMetrics } from './metrics.ts';
import { renderConfusionSvg, renderReliabilitySvg, renderRobustnessSvg } from './svg.ts';

/** n images, the first `wrong` of them read as the next digit; the top probability `confidence`. */
function metricsOf(n: number, wrong: number, confidence: number, label?: string) {
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const probabilities = new Float32Array(n * 10).fill((1 - confidence) / 9);
  labels.forEach((digit, i) => {
    probabilities[i * 10 + (i < wrong ? (digit + 1) % 10 : digit)] = confidence;
  });
  return { ...(label ? { label } : {}), ...classificationMetrics(labels, probabilities) };
}

function report(version: string, wrong: number): EvaluationReport {
  return evaluationReportSchema.parse({
    model: { name: 'digitnet', version },
    created_at: '2026-11-30T00:00:00.000Z',
    datasets: {
      'mnist-test': metricsOf(1000, wrong, 0.95),
      'robustness/downsample-8': metricsOf(200, wrong * 4, 0.8, 'downsampled to 8x8'),
      'robustness/stroke-thick': metricsOf(200, wrong * 2, 0.9, 'pen <2.5 px> thicker & "bold"'),
    },
    calibration: { temperature: 1.3, fitted_on: 'mnist-train last 3,000', count: 3000, ece_before: 0.02, ece_after: 0.01 },
  });
}

/** librsvg (through sharp) parses the SVG as XML and draws it; a document that is not well-formed fails. */
async function parses(svg: string): Promise<void> {
  const { width, height } = await sharp(Buffer.from(svg)).png().toBuffer({ resolveWithObject: true }).then((r) => r.info);
  expect(width).toBeGreaterThan(100);
  expect(height).toBeGreaterThan(100);
}

const after = report('v2', 3);
const before = report('v1', 12);

describe('report SVGs', () => {
  it('a malformed SVG fails the check (so passing it means well-formed XML)', async () => {
    await expect(parses('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><text>a & b</text></svg>')).rejects.toThrow();
    await expect(parses('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200"><g></svg>')).rejects.toThrow();
  });

  it('confusion heatmap: well-formed, titled, every count written', async () => {
    const svg = renderConfusionSvg(after);
    await parses(svg);
    expect(svg).toContain('<title id="title">Confusion matrix of digitnet@v2 on mnist-test</title>');
    const counts = [...svg.matchAll(/<text [^>]*text-anchor="middle" fill="[^"]+">(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(counts).toHaveLength(100);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(svg).toContain('accuracy 99.70%');
    expect(svg).toContain('0 read as 1 (1)');
  });

  it('reliability diagram: the diagonal, a bar per filled bin, each bin count, ECE; with compareTo, both', async () => {
    const svg = renderReliabilitySvg(after);
    await parses(svg);
    expect(svg).toMatch(/<line x1="60" y1="470" x2="480" y2="50"[^>]*stroke-dasharray/);
    const ece = after.datasets['mnist-test']!.ece;
    expect(svg).toContain(`expected calibration error ${(ece * 100).toFixed(2)}%`);
    // All 1000 images at confidence 0.95: one bar, 997 right.
    expect(svg).toContain('>1000</text>');
    expect(svg).toContain('right 0.93-1.00: 1000 images, right 99.7%');
    const compared = renderReliabilitySvg(after, { compareTo: before });
    await parses(compared);
    expect(compared).toContain('before 0.93-1.00: 1000 images, right 98.8%');
    expect(compared).toContain('after 0.93-1.00: 1000 images, right 99.7%');
  });

  it('robustness chart: a bar and its figure per dataset, labels escaped; with compareTo, before and after', async () => {
    const svg = renderRobustnessSvg(after);
    await parses(svg);
    expect(svg).toContain('>downsample-8</text>');
    expect(svg).toContain('>94.00%</text>');
    expect(svg).toContain('pen &lt;2.5 px&gt; thicker &amp; &quot;bold&quot;');
    const compared = renderRobustnessSvg(after, { compareTo: before });
    await parses(compared);
    expect(compared).toContain('>before 76.00%</text>');
    expect(compared).toContain('>after 94.00% (errors x0.25)</text>');
    expect(compared).toContain('downsample-8 76.00% before, 94.00% after (200 images), error rate x0.25');
  });

  it('names the missing dataset when asked for one the report lacks', () => {
    expect(() => renderConfusionSvg(after, { dataset: 'feedback-heldback' })).toThrow(/no dataset "feedback-heldback"/);
  });
});
