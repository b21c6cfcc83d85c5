// The console's chart rules as pure code: which outputs are numeric series, the bounds on charts, downsampling that keeps extremes, run marks.
import { describe, expect, it } from 'vitest';

// The console is plain JS served as is (no types); imported by URL so the type checker does not ask for declarations.
const chartData: any = await import(new URL('../../src/api/console/chart-data.js', import.meta.url).href);
const { CHART_LIMITS, chartableOutputs, downsample, isNumericSeries, runMarks, seriesOf } = chartData;

describe('which outputs are charted', () => {
  it('an array of 2 to 10,000 finite numbers is a series; anything else is not', () => {
    expect(isNumericSeries([100, 110, 121])).toBe(true);
    expect(isNumericSeries([1, 2])).toBe(true);
    expect(isNumericSeries(Array.from({ length: 10_000 }, (_, i) => i))).toBe(true);
    expect(isNumericSeries([1]), 'one value').toBe(false);
    expect(isNumericSeries(Array.from({ length: 10_001 }, (_, i) => i)), '10,001 values').toBe(false);
    expect(isNumericSeries([1, '2', 3]), 'a string among numbers').toBe(false);
    expect(isNumericSeries([1, null]), 'null').toBe(false);
    expect(isNumericSeries([1, Number.NaN]), 'NaN').toBe(false);
    expect(isNumericSeries([1, Infinity]), 'Infinity').toBe(false);
    expect(isNumericSeries({ 0: 1, 1: 2, length: 2 }), 'an array-like object').toBe(false);
  });

  it('an object of equal-length series is one chart with a line per key; unequal lengths or other values are not charted', () => {
    expect(seriesOf({ a: [1, 2, 3], b: [3, 2, 1] })).toEqual({ lines: [{ name: 'a', values: [1, 2, 3] }, { name: 'b', values: [3, 2, 1] }], hidden: 0 });
    expect(seriesOf([100, 110, 121])).toEqual({ lines: [{ name: null, values: [100, 110, 121] }], hidden: 0 });
    expect(seriesOf({ a: [1, 2, 3], b: [1, 2] }), 'unequal lengths').toBeNull();
    expect(seriesOf({ values: [1, 2, 3], rate: 0.1 }), 'a series beside a number').toBeNull();
    expect(seriesOf({}), 'empty object').toBeNull();
    expect(seriesOf('text')).toBeNull();
    expect(seriesOf(null)).toBeNull();
    expect(seriesOf([[1, 2], [3, 4]]), 'nested arrays').toBeNull();
  });

  it('draws at most 8 lines in one chart and counts the rest as hidden', () => {
    const many = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`s${i}`, [i, i + 1]]));
    const series = seriesOf(many);
    expect(series.lines.map((line: any) => line.name)).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7']);
    expect(series.hidden).toBe(11 - CHART_LIMITS.maxLines);
  });

  it('charts at most maxCharts outputs per run, in the outputs order, and counts the chartable ones left out', () => {
    const outputs: Record<string, unknown> = { label: 'not a series' };
    for (let i = 0; i < 15; i += 1) outputs[`series${i}`] = [i, i * 2];
    const { charts, skipped } = chartableOutputs(outputs);
    expect(charts.map((chart: any) => chart.name)).toEqual(Array.from({ length: CHART_LIMITS.maxCharts }, (_, i) => `series${i}`));
    expect(skipped).toBe(15 - CHART_LIMITS.maxCharts);
  });
});

describe('downsampling to the chart width', () => {
  it('keeps every point of a series that fits', () => {
    expect(downsample([100, 110, 121], 500)).toEqual([[0, 100], [1, 110], [2, 121]]);
  });

  it('draws a long series as at most maxPoints points, in index order, keeping its lowest and highest values', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => Math.sin(i / 50));
    values[4321] = 99;
    values[777] = -99;
    const points = downsample(values, 600);
    expect(points.length, 'points drawn').toBeLessThanOrEqual(600);
    expect(points.length).toBeGreaterThan(300);
    const indexes = points.map(([index]: [number, number]) => index);
    expect(indexes, 'x in order').toEqual([...indexes].sort((a, b) => a - b));
    const ys = points.map(([, value]: [number, number]) => value);
    expect(Math.max(...ys), 'the spike survives').toBe(99);
    expect(Math.min(...ys), 'the dip survives').toBe(-99);
  });
});

describe('run marks', () => {
  it('keeps finished runs only, oldest first, with created_at as time and duration_seconds as value', () => {
    const terminal = new Set(['success', 'failed', 'timed_out', 'cancelled', 'error']);
    const runs = [
      { run_id: 'c', run_number: 3, status: 'running', created_at: '2025-01-01T00:00:03Z', duration_seconds: 0 },
      { run_id: 'b', run_number: 2, status: 'failed', created_at: '2025-01-01T00:00:02Z', duration_seconds: 1.5 },
      { run_id: 'a', run_number: 1, status: 'success', created_at: '2025-01-01T00:00:01Z', duration_seconds: 2 },
    ];
    expect(runMarks(runs, terminal)).toEqual([
      { run_id: 'a', run_number: 1, status: 'success', time: Date.parse('2025-01-01T00:00:01Z'), duration: 2 },
      { run_id: 'b', run_number: 2, status: 'failed', time: Date.parse('2025-01-01T00:00:02Z'), duration: 1.5 },
    ]);
  });
});
