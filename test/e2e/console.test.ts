// The web console in headless Chromium: sign in, start a run with parameters, watch its logs arrive live and its outputs, without console errors.
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser, type BrowserSession } from '../helpers/chromium.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// The README's screenshots are refreshed only on request (SANDRUN_SCREENSHOTS=1), so a test run leaves the tree clean.
const SCREENSHOTS = process.env.SANDRUN_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : undefined;
const screenshot = (page: { screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown> }, name: string, fullPage = false) =>
  SCREENSHOTS ? page.screenshot({ path: SCREENSHOTS + name, fullPage }) : Promise.resolve();

const FILES = {
  'sandrun.yaml': 'image: sandrun/python:3.11\nmodels:\n  forecast:\n    command: ["python", "models/forecast.py"]\n  summary:\n    command: ["python", "models/summary.py"]\n',
  'models/forecast.py': [
    'import json, sys, time',
    'params = json.load(open("/inputs/parameters.json"))',
    'rate = params.get("growth_rate", 0.05)',
    'values = [100.0]',
    'for year in range(1, 4):',
    '    values.append(round(values[-1] * (1 + rate), 2))',
    '    print(f"year {year}: {values[-1]}", flush=True)',
    '    time.sleep(0.7)',
    'print("a warning on stderr", file=sys.stderr, flush=True)',
    'json.dump({"values": values, "growth_rate": rate}, open("/outputs/forecast.json", "w"))',
  ].join('\n'),
  'models/summary.py': 'print("summary")\n',
};

const CONSOLE_SECRET = 'console-secret-value-5f1c';
let server: TestServer;
let token: string;
let repo: TestRepo;
let browser: BrowserSession | undefined;
let page: Page;
let consoleErrors: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  token = await server.token('console-tenant');
  repo = new TestRepo(FILES);
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'forecasts', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const secret = await server.request(token, 'PUT', '/v1/projects/forecasts/secrets/WAREHOUSE_TOKEN', { value: CONSOLE_SECRET });
  expect(secret.status, JSON.stringify(secret.body)).toBe(201);
  browser = await openBrowser();
  ({ page, consoleErrors } = browser);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  repo?.remove();
});

describe('the web console', () => {
  it('signs in with a token, starts a run, shows its live logs and outputs, and lists it', async () => {
    await page.goto(server.url + '/');
    await page.getByLabel('API token').waitFor();
    await screenshot(page, 'sign-in.png');
    await page.getByLabel('API token').fill('sr_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('refused');
    // Chromium reports the refused request (401) as a console error; that one was asked for.
    expect(consoleErrors.every((text) => text.includes('401')), consoleErrors.join('\n')).toBe(true);
    consoleErrors.length = 0;

    await page.getByLabel('API token').fill(token);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Runs' }).waitFor();

    await page.getByRole('link', { name: 'Projects' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    await page.getByRole('link', { name: 'forecast', exact: true }).waitFor();
    // A project's secrets by name only.
    await expect.poll(() => page.locator('td.secrets').textContent()).toBe('WAREHOUSE_TOKEN');
    expect(await page.content()).not.toContain(CONSOLE_SECRET);
    await screenshot(page, 'projects.png');
    await page.getByRole('link', { name: 'forecast', exact: true }).click();

    await page.getByRole('heading', { name: 'New run' }).waitFor();
    await expect.poll(() => page.getByLabel('Model').inputValue()).toBe('forecast');
    await page.getByLabel('Parameters (JSON object)').fill('{"growth_rate": 0.1}');
    await screenshot(page, 'new-run.png');
    await page.getByRole('button', { name: 'Start run' }).click();

    await page.getByRole('heading', { name: /^Run #1 · forecasts \/ forecast$/ }).waitFor();
    // The first line arrives while the run is still going (live over SSE), before the outputs.
    await expect.poll(() => page.locator('#stdout').textContent(), { timeout: 20_000 }).toContain('year 1: 110');
    const outputsWhileRunning = await page.locator('#outputs').textContent();
    expect(outputsWhileRunning, 'outputs shown before the run ended').toBe('(when the run ends)');
    await expect.poll(() => page.locator('#run-summary .status').textContent(), { timeout: 30_000 }).toBe('success');
    expect(await page.locator('#stdout').textContent()).toContain('year 3: 133.1');
    expect(await page.locator('#stderr').textContent()).toContain('a warning on stderr');
    const outputs = JSON.parse((await page.locator('#outputs').textContent()) ?? 'null');
    expect(outputs).toEqual({ forecast: { values: [100, 110, 121, 133.1], growth_rate: 0.1 } });
    const curl = (await page.locator('#reproduce-curl').textContent()) ?? '';
    expect(curl).toContain('"parameters":{"growth_rate":0.1}');
    expect(curl).toMatch(/"commit_sha":"[0-9a-f]{40}"/);
    expect(await page.locator('#reproduce-mcp').textContent()).toContain('"name": "run"');
    await screenshot(page, 'run.png', true);

    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    await page.getByLabel('Status').selectOption('success');
    await page.locator('tr[data-run-id] .status-success').first().waitFor();
    // The list re-renders on every refresh: count once it has settled on the filtered rows.
    await expect.poll(() => page.locator('tr[data-run-id]').count(), { timeout: 10_000 }).toBe(1);
    await screenshot(page, 'runs.png');
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No runs yet.').waitFor();

    expect(consoleErrors, 'errors in the browser console').toEqual([]);
  });
});
