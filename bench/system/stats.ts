/** Summaries of repeated measurements and of latency samples. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every repeat, in the order measured. */
  values: number[];
}

/** The value below which `p` percent of `sorted` (ascending) lie (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, values: [...values] };
}

/** Rounds for the report: enough digits to compare, no more. */
export function round(value: number, digits = 1): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
