// A run's artifacts in the web console (headless Chromium): a PNG and an SVG shown inline as images, a CSV as a table (cut at 200 rows, said so), every file downloadable.
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACT_PROJECT_FILES, EXPECTED_ARTIFACTS } from '../helpers/artifact-files.ts';
import { openBrowser, type BrowserSession } from '../helpers/chromium.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Written by hand, with a script that would retitle the console were it ever run in its origin.
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>top.document.title = "pwned"</script><rect width="40" height="20" fill="#0550ae"/></svg>';

let server: TestServer;
let token: string;
let repo: TestRepo;
let browser: BrowserSession | undefined;
let page: Page;
let consoleErrors: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  token = await server.token(`console-artifacts-${process.pid}`);
  const charts = ARTIFACT_PROJECT_FILES['models/charts.py']!.replace('print("charts written")', `open("/outputs/diagram.svg", "w").write(${JSON.stringify(SVG)})`);
  repo = new TestRepo({ 'models/charts.py': charts });
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'charts', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  browser = await openBrowser();
  ({ page, consoleErrors } = browser);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  repo?.remove();
});

describe("a run's artifacts in the console", () => {
  it('shows the PNG and the SVG inline, the CSV as a table of its first 200 rows, and downloads a file', async () => {
    const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'charts', model_name: 'charts' });
    expect(run.body.status, JSON.stringify(run.body.error)).toBe('success');
    await page.goto(server.url + '/');
    await page.getByLabel('API token').fill(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.goto(`${server.url}/#/runs/${run.body.run_id}`);
    await page.getByRole('heading', { name: 'Artifacts' }).waitFor();

    const listed = page.locator('#artifacts a.artifact-download');
    await expect.poll(() => listed.allTextContents()).toEqual(['chart.png', 'diagram.svg', 'nested/dir/report.txt', 'result.json', 'table.csv']);

    // Decoded by the browser: its pixels are the PNG's, not a broken-image placeholder.
    const png = page.getByRole('img', { name: 'chart.png' });
    await expect.poll(() => png.evaluate((img: { naturalWidth: number; naturalHeight: number }) => `${img.naturalWidth}x${img.naturalHeight}`)).toBe('12x7');
    expect(await png.getAttribute('src')).toMatch(/^blob:/);
    const svg = page.getByRole('img', { name: 'diagram.svg' });
    await expect.poll(() => svg.evaluate((img: { naturalWidth: number; naturalHeight: number }) => img.naturalWidth)).toBe(40);
    expect(await svg.getAttribute('src')).toMatch(/^data:image\/svg\+xml/);

    const table = page.getByRole('table', { name: 'table.csv' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(200);
    expect(await table.locator('thead th').allTextContents()).toEqual(['year', 'revenue']);
    expect(await table.locator('tbody tr').first().locator('td').allTextContents()).toEqual(['2000', '100']);
    await expect.poll(() => page.locator('#artifacts figcaption', { hasText: 'table.csv' }).textContent()).toContain('the first 200 of 250 rows');

    const [download] = await Promise.all([page.waitForEvent('download'), listed.filter({ hasText: 'nested/dir/report.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('report.txt');
    expect(readFileSync(await download.path()).equals(EXPECTED_ARTIFACTS['nested/dir/report.txt']!)).toBe(true);

    expect(await page.title()).not.toContain('pwned');
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
  });
});
