// The console's charts in headless Chromium: a run's numeric outputs drawn as line charts, a project's runs over time by status; no CSP or script errors.
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type BrowserSession } from '../helpers/chromium.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The README's screenshots are refreshed only on request (SANDRUN_SCREENSHOTS=1), as in console.test.ts.
const SCREENSHOTS = process.env.SANDRUN_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : undefined;
const screenshot = (name: string) => (SCREENSHOTS ? page.screenshot({ path: SCREENSHOTS + name, fullPage: true }) : Promise.resolve());

const FILES = {
  'sandrun.yaml': 'image: sandrun/python:3.11\nmodels:\n  series:\n    command: ["python", "models/series.py"]\n  broken:\n    command: ["python", "models/broken.py"]\n',
  'models/series.py': [
    'import json',
    'json.dump([100, 110, 121], open("/outputs/revenue.json", "w"))',
    'json.dump({"a": [1, 2, 3], "b": [3, 2, 1]}, open("/outputs/curves.json", "w"))',
    // Not series: a label beside numbers, and a list that holds a string.
    'json.dump({"title": "quarterly", "values": [1, 2, 3]}, open("/outputs/notes.json", "w"))',
    'json.dump([1, "two", 3], open("/outputs/mixed.json", "w"))',
  ].join('\n'),
  'models/broken.py': 'import sys\nprint("failing on purpose", file=sys.stderr)\nsys.exit(1)\n',
};

let server: TestServer;
let token: string;
let repo: TestRepo;
let browser: BrowserSession | undefined;
let page: Page;
const runIds: Record<string, string> = {};
let consoleErrors: string[] = [];

async function startRun(model: string): Promise<string> {
  const started = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'charts', model_name: model });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.run_id as string;
}

/** The number of points of an SVG polyline (its `points` attribute holds "x,y" pairs separated by spaces). */
const pointCount = (points: string | null) => (points ?? '').trim().split(/\s+/).filter(Boolean).length;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.token('charts-tenant');
  repo = new TestRepo(FILES);
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'charts', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  // Three runs, one failing: the run page reads the first, the runs page charts all three.
  const [series, again, broken] = await Promise.all([startRun('series'), startRun('series'), startRun('broken')]);
  Object.assign(runIds, { series, again, broken });
  const ended = await Promise.all([series, again, broken].map((id) => server.waitForRun(token, id)));
  expect(ended.map((run) => run.status), JSON.stringify(ended.map((run) => run.error))).toEqual(['success', 'success', 'failed']);
  expect(ended[0].outputs.revenue).toEqual([100, 110, 121]);

  browser = await openBrowser();
  ({ page, consoleErrors } = browser);
  await page.goto(server.url + '/');
  await page.getByLabel('API token').fill(token);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  repo?.remove();
});

describe('the console charts', () => {
  it("draws a run's numeric outputs as line charts with their names, and leaves other outputs as JSON only", async () => {
    await page.goto(`${server.url}/#/runs/${runIds.series}`);
    await page.getByRole('heading', { name: /^Run #\d+ · charts \/ series$/ }).waitFor();
    await page.locator('figure.chart').first().waitFor({ timeout: 20_000 });

    const revenue = page.locator('figure.chart[data-output="revenue"]');
    expect(await revenue.locator('figcaption').textContent(), 'caption names the series').toContain('revenue');
    expect(await revenue.locator('svg.chart-svg > title').textContent(), 'accessible name').toContain('revenue');
    expect(await revenue.getByRole('img').count(), 'the chart is an image to assistive tech').toBe(1);
    const revenueLines = revenue.locator('polyline.chart-line');
    expect(await revenueLines.count(), 'one line for revenue').toBe(1);
    expect(pointCount(await revenueLines.getAttribute('points')), 'points of revenue').toBe(3);
    expect(await revenue.locator('.chart-y-min').textContent(), 'y min label').toBe('100');
    expect(await revenue.locator('.chart-y-max').textContent(), 'y max label').toBe('121');

    const curves = page.locator('figure.chart[data-output="curves"]');
    const curveLines = curves.locator('polyline.chart-line');
    expect(await curveLines.count(), 'one line per key of curves').toBe(2);
    expect(await curveLines.evaluateAll((lines) => lines.map((line) => line.getAttribute('data-series')))).toEqual(['a', 'b']);
    for (const points of await curveLines.evaluateAll((lines) => lines.map((line) => line.getAttribute('points')))) {
      expect(pointCount(points), 'points of each curve').toBe(3);
    }
    expect(await curves.locator('.chart-legend li').allTextContents(), 'legend').toEqual(['a', 'b']);

    // The two non-series outputs are not charted, and every output is still in the JSON.
    const charted = await page.locator('figure.chart').evaluateAll((figures) => figures.map((figure) => figure.getAttribute('data-output')));
    expect(charted, 'outputs drawn as charts').toEqual(['curves', 'revenue']);
    const outputs = JSON.parse((await page.locator('#outputs').textContent()) ?? 'null');
    expect(Object.keys(outputs).sort()).toEqual(['curves', 'mixed', 'notes', 'revenue']);
    await screenshot('run-charts.png');
    expect(consoleErrors, 'errors in the browser console').toEqual([]);
  });

  it("shows a project's runs over time, one mark per finished run in its status's class, with a legend, also at phone width", async () => {
    await page.goto(`${server.url}/#/runs?project=charts`);
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    const chart = page.locator('#runs-chart');
    await chart.locator('svg.chart-svg').waitFor({ timeout: 20_000 });
    const marks = chart.locator('.chart-marks .chart-mark');
    expect(await marks.count(), 'marks').toBe(3);
    expect(await chart.locator('.chart-marks .chart-mark.status-failed').count(), 'failed marks').toBe(1);
    expect(await chart.locator('.chart-marks .chart-mark.status-success').count(), 'success marks').toBe(2);
    const failedLink = chart.locator(`.chart-marks a[data-run-id="${runIds.broken}"]`);
    expect(await failedLink.getAttribute('href'), 'the failed mark links to its run').toBe(`#/runs/${runIds.broken}`);
    expect(await chart.locator('figcaption').textContent(), 'the chart says how many runs it shows').toContain('3 finished runs shown');
    const legend = await chart.locator('.chart-legend li').allTextContents();
    expect(legend, 'legend').toEqual(expect.arrayContaining(['success (2)', 'failed (1)']));
    expect(await chart.locator('svg.chart-svg > title').textContent()).toContain('3 finished runs of charts');
    await screenshot('runs-chart.png');

    // At a phone's width the chart is redrawn to fit the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    await page.reload();
    await chart.locator('svg.chart-svg').waitFor({ timeout: 20_000 });
    const box = await chart.locator('svg.chart-svg').boundingBox();
    expect(box, 'the chart is laid out').not.toBeNull();
    expect(box!.x + box!.width, 'right edge of the chart within 360 px').toBeLessThanOrEqual(360);
    expect(await chart.locator('.chart-marks .chart-mark').count()).toBe(3);

    // Without a project filter there is no chart.
    await page.goto(`${server.url}/#/runs`);
    await page.locator('tr[data-run-id]').first().waitFor();
    expect(await page.locator('#runs-chart').count(), 'no chart for all projects').toBe(0);
    expect(consoleErrors, 'errors in the browser console').toEqual([]);
  });
});
