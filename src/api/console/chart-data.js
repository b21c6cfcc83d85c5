// What the console's charts draw, as pure functions (no DOM, so Node tests import them): which outputs are numeric series, downsampling, scales.

/** Bounds that keep a run page cheap whatever its outputs hold. */
export const CHART_LIMITS = Object.freeze({
  /** Charts drawn on one run's page; further series stay in the JSON only. */
  maxCharts: 12,
  /** Lines in one chart (an object of series); further keys are named in the caption as not drawn. */
  maxLines: 8,
  minLength: 2,
  maxLength: 10_000,
});

/** An array of 2 to 10,000 finite numbers (checked element by element, stopping at the first that is not). */
export function isNumericSeries(value) {
  if (!Array.isArray(value) || value.length < CHART_LIMITS.minLength || value.length > CHART_LIMITS.maxLength) return false;
  for (const item of value) if (typeof item !== 'number' || !Number.isFinite(item)) return false;
  return true;
}

/**
 * An output as chart lines, or null when it is not chartable: an array of numbers is one line; an object whose every
 * value is such an array, all of one length, is one line per key (the first maxLines drawn, `hidden` counts the rest).
 */
export function seriesOf(value) {
  if (isNumericSeries(value)) return { lines: [{ name: null, values: value }], hidden: 0 };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const entries = Object.entries(value);
  if (entries.length === 0) return null;
  const length = Array.isArray(entries[0][1]) ? entries[0][1].length : -1;
  for (const [, series] of entries) if (!isNumericSeries(series) || series.length !== length) return null;
  const lines = entries.slice(0, CHART_LIMITS.maxLines).map(([name, values]) => ({ name, values }));
  return { lines, hidden: entries.length - lines.length };
}

/** The outputs to chart, in the outputs' own order, at most maxCharts of them; `skipped` counts chartable ones not drawn. */
export function chartableOutputs(outputs) {
  const charts = [];
  let skipped = 0;
  if (outputs === null || typeof outputs !== 'object') return { charts, skipped };
  for (const [name, value] of Object.entries(outputs)) {
    const series = seriesOf(value);
    if (!series) continue;
    if (charts.length < CHART_LIMITS.maxCharts) charts.push({ name, ...series });
    else skipped += 1;
  }
  return { charts, skipped };
}

/**
 * At most `maxPoints` [index, value] pairs of a series: all of them when it fits, else each bucket's minimum and
 * maximum in index order, so spikes survive what a stride would drop.
 */
export function downsample(values, maxPoints) {
  if (values.length <= maxPoints) return values.map((value, index) => [index, value]);
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const points = [];
  for (let bucket = 0; bucket < buckets; bucket += 1) {
    const start = Math.floor((bucket * values.length) / buckets);
    const end = Math.floor(((bucket + 1) * values.length) / buckets);
    let low = start;
    let high = start;
    for (let index = start; index < end; index += 1) {
      if (values[index] < values[low]) low = index;
      if (values[index] > values[high]) high = index;
    }
    if (low === high) points.push([low, values[low]]);
    else points.push(low < high ? [low, values[low]] : [high, values[high]], low < high ? [high, values[high]] : [low, values[low]]);
  }
  return points;
}

/** The smallest and largest of many series together. */
export function extent(seriesList) {
  let min = Infinity;
  let max = -Infinity;
  for (const values of seriesList) {
    for (const value of values) {
      if (value < min) min = value;
      if (value > max) max = value;
    }
  }
  return { min, max };
}

/** A linear map from [domainMin, domainMax] to [rangeStart, rangeEnd]; a flat domain maps to the range's middle. */
export function linearScale(domainMin, domainMax, rangeStart, rangeEnd) {
  const span = domainMax - domainMin;
  if (span === 0 || !Number.isFinite(span)) return () => (rangeStart + rangeEnd) / 2;
  return (value) => rangeStart + ((value - domainMin) / span) * (rangeEnd - rangeStart);
}

/** A number short enough for an axis label: up to 4 significant digits, exponent form when very large or small. */
export function axisNumber(value) {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 || magnitude < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

/** Runs that have ended, as chart marks (x: created_at in ms, y: duration in seconds), oldest first. */
export function runMarks(runs, terminal) {
  return runs
    .filter((run) => terminal.has(run.status) && Number.isFinite(Date.parse(run.created_at)) && Number.isFinite(run.duration_seconds))
    .map((run) => ({ run_id: run.run_id, run_number: run.run_number, status: run.status, time: Date.parse(run.created_at), duration: run.duration_seconds }))
    .sort((a, b) => a.time - b.time);
}
