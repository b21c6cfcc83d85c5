// The console's charts as inline SVG built element by element (no library, nothing the CSP would refuse): numeric outputs as lines, a project's runs over time.
import { CHART_LIMITS, axisNumber, chartableOutputs, downsample, extent, linearScale, runMarks } from './chart-data.js';
import { TERMINAL, h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const HEIGHT = 170;
const MARGIN = { top: 12, right: 12, bottom: 24, left: 56 };
const TERMINAL_ORDER = ['success', 'failed', 'timed_out', 'cancelled', 'error'];

/** An SVG element from data, like dom.js's h(): attributes set one by one, text as text nodes. */
function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * The drawing's width in user units equals the container's pixel width (clamped), so labels keep their CSS size and
 * downsampling to the plot's width really is one point per pixel column.
 */
function chartWidth(containerWidth) {
  return Math.round(Math.min(720, Math.max(240, containerWidth || 480)));
}

/** The frame every chart shares: the svg with its accessible name, both axes and the min/max labels. */
function frame(width, title, labels) {
  const bottom = HEIGHT - MARGIN.bottom;
  const right = width - MARGIN.right;
  return s('svg', { class: 'chart-svg', viewBox: `0 0 ${width} ${HEIGHT}`, role: 'img', preserveAspectRatio: 'xMinYMin meet' },
    s('title', {}, title),
    s('g', { class: 'chart-axes', 'aria-hidden': 'true' },
      s('line', { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: bottom }),
      s('line', { x1: MARGIN.left, y1: bottom, x2: right, y2: bottom }),
      s('text', { class: 'chart-label chart-y-max', x: MARGIN.left - 6, y: MARGIN.top + 4, 'text-anchor': 'end' }, labels.yMax),
      s('text', { class: 'chart-label chart-y-min', x: MARGIN.left - 6, y: bottom, 'text-anchor': 'end' }, labels.yMin),
      s('text', { class: 'chart-label chart-x-min', x: MARGIN.left, y: HEIGHT - 6, 'text-anchor': 'start' }, labels.xMin),
      labels.xMax === null ? null : s('text', { class: 'chart-label chart-x-max', x: right, y: HEIGHT - 6, 'text-anchor': 'end' }, labels.xMax)));
}

/** One output's chart: a line per series over the index, y from the smallest to the largest value. */
export function seriesChart(chart, containerWidth) {
  const width = chartWidth(containerWidth);
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const length = chart.lines[0].values.length;
  const { min, max } = extent(chart.lines.map((line) => line.values));
  const x = linearScale(0, length - 1, MARGIN.left, width - MARGIN.right);
  const y = linearScale(min, max, HEIGHT - MARGIN.bottom, MARGIN.top);
  const named = chart.lines.length > 1 || chart.lines[0].name !== null;
  const what = named ? `${chart.lines.length} series (${chart.lines.map((line) => line.name).join(', ')})` : 'a series';
  const title = `${chart.name}: ${what} of ${length} values, from ${axisNumber(min)} to ${axisNumber(max)}`;
  const svg = frame(width, title, { yMin: axisNumber(min), yMax: axisNumber(max), xMin: '0', xMax: String(length - 1) });
  chart.lines.forEach((line, index) => {
    const points = downsample(line.values, plotWidth).map(([i, value]) => `${x(i).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { class: `chart-line chart-series-${index}`, points, 'data-series': line.name ?? chart.name }));
  });
  const notes = [];
  if (length > plotWidth) notes.push(`${length} values, drawn as each pixel column's lowest and highest`);
  else notes.push(`${length} values`);
  if (chart.hidden > 0) notes.push(`${chart.hidden} more series not drawn (at most ${CHART_LIMITS.maxLines} lines)`);
  return h('figure', { class: 'chart', 'data-output': chart.name },
    h('figcaption', {}, h('code', { class: 'chart-name' }, chart.name), h('span', { class: 'help' }, ` · ${notes.join('; ')}`)),
    svg,
    named ? h('ul', { class: 'chart-legend' }, chart.lines.map((line, index) => h('li', {}, h('span', { class: `chart-swatch chart-series-${index}`, 'aria-hidden': 'true' }), line.name))) : null);
}

/** The charts of a run's numeric outputs (none when it has none), with a note when more were chartable than drawn. */
export function outputCharts(outputs, containerWidth) {
  const { charts, skipped } = chartableOutputs(outputs);
  const figures = charts.map((chart) => seriesChart(chart, containerWidth));
  if (skipped > 0) figures.push(h('p', { class: 'help' }, `${skipped} more numeric outputs are not charted (at most ${CHART_LIMITS.maxCharts} charts); they are in the JSON below.`));
  return figures;
}

/** A status's mark: a filled shape (circle, square, triangles, diamond) so statuses differ by more than colour. */
function markPath(status, cx, cy, r) {
  switch (status) {
    case 'success': return `M${cx - r},${cy}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0Z`;
    case 'failed': return `M${cx - r},${cy - r}h${2 * r}v${2 * r}h${-2 * r}Z`;
    case 'timed_out': return `M${cx},${cy - r}L${cx + r},${cy + r}L${cx - r},${cy + r}Z`;
    case 'cancelled': return `M${cx - r},${cy - r}L${cx + r},${cy - r}L${cx},${cy + r}Z`;
    default: return `M${cx},${cy - r}L${cx + r},${cy}L${cx},${cy + r}L${cx - r},${cy}Z`;
  }
}

/** A time label as short as the span allows: seconds only when the runs fall within an hour. */
const shortTime = (ms, spanMs) => new Date(ms).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: spanMs < 3_600_000 ? '2-digit' : undefined });
const seconds = (value) => `${axisNumber(value)} s`;

/**
 * A project's finished runs over time: x is when each was created, y its duration from 0, one mark per run in its
 * status's colour and shape, each a link to the run. `fetched` is the page size the runs were asked with.
 */
export function runsChart(project, runs, fetched, containerWidth) {
  const marks = runMarks(runs, TERMINAL);
  const width = chartWidth(containerWidth);
  const count = `${marks.length} finished run${marks.length === 1 ? '' : 's'}`;
  const notes = [];
  if (runs.length >= fetched) notes.push(`from the ${fetched} newest runs only`);
  if (runs.length > marks.length) notes.push('runs still going are not drawn');
  const caption = h('figcaption', {}, `Duration of the runs of ${project} over time: ${count} shown`, notes.length > 0 ? ` (${notes.join('; ')})` : '', '.');
  if (marks.length === 0) return h('figure', { class: 'chart runs-chart', id: 'runs-chart', 'data-marks': '0' }, caption, h('p', { class: 'empty' }, 'No finished runs to chart yet.'));
  const first = marks[0].time;
  const last = marks[marks.length - 1].time;
  const { max } = extent([marks.map((mark) => mark.duration)]);
  const top = max > 0 ? max : 1;
  // Marks stay clear of the axes: a radius of room inside the plot on every side.
  const r = 5;
  const x = linearScale(first, last, MARGIN.left + 2 * r, width - MARGIN.right - r);
  const y = linearScale(0, top, HEIGHT - MARGIN.bottom - r, MARGIN.top);
  const svg = frame(width, `Duration of ${count} of ${project} from ${shortTime(first, last - first)} to ${shortTime(last, last - first)}, longest ${seconds(top)}`,
    { yMin: seconds(0), yMax: seconds(top), xMin: shortTime(first, last - first), xMax: last === first ? null : shortTime(last, last - first) });
  const group = s('g', { class: 'chart-marks' });
  for (const mark of marks) {
    group.append(s('a', { href: `#/runs/${encodeURIComponent(mark.run_id)}`, 'data-run-id': mark.run_id },
      s('title', {}, `#${mark.run_number} ${mark.status}, ${mark.duration.toFixed(2)} s, ${new Date(mark.time).toLocaleString()}`),
      s('path', { class: `chart-mark status-${mark.status}`, d: markPath(mark.status, x(mark.time), y(mark.duration), r) })));
  }
  svg.append(group);
  const legend = h('ul', { class: 'chart-legend', 'aria-label': 'Legend' }, TERMINAL_ORDER.map((status) => {
    const shown = marks.filter((mark) => mark.status === status).length;
    const icon = s('svg', { class: 'chart-legend-mark', viewBox: '0 0 12 12', 'aria-hidden': 'true' }, s('path', { class: `chart-mark status-${status}`, d: markPath(status, 6, 6, 5) }));
    return h('li', { class: shown === 0 ? 'empty' : null }, icon, `${status} (${shown})`);
  }));
  return h('figure', { class: 'chart runs-chart', id: 'runs-chart', 'data-marks': String(marks.length) }, caption, svg, legend);
}
