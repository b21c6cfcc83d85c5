// Small statistics for benchmarks: medians, percentiles, ratios.
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export const median = (values: number[]): number => percentile(values, 50);

export interface Summary {
  n: number;
  medianMs: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
}

export function summarize(valuesMs: number[]): Summary {
  return {
    n: valuesMs.length,
    medianMs: round(median(valuesMs)),
    p95Ms: round(percentile(valuesMs, 95)),
    minMs: round(Math.min(...valuesMs)),
    maxMs: round(Math.max(...valuesMs)),
  };
}

export const round = (value: number, digits = 1): number => Math.round(value * 10 ** digits) / 10 ** digits;

export function printRow(label: string, summary: Summary): void {
  console.log(`  ${label.padEnd(44)} median ${String(summary.medianMs).padStart(7)} ms   p95 ${String(summary.p95Ms).padStart(7)} ms   (n=${summary.n})`);
}
