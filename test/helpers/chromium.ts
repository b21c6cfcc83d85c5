// Headless Debian Chromium for browser tests: installed when absent, started with the flags this machine's closed network needs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Installs Debian's chromium when /usr/bin/chromium is absent (a fresh CI machine). */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
}

/** A fresh, empty profile each time (playwright passes it as --user-data-dir). */
export async function launchChromium(viewport = { width: 1200, height: 860 }): Promise<{ context: BrowserContext; userDataDir: string }> {
  ensureChromium();
  const userDataDir = mkdtempSync(join(tmpdir(), 'sandrun-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return { context, userDataDir };
}

/** A new page that records what the browser's console reports as an error, and any uncaught page error, into `errors`. */
export async function pageRecordingErrors(context: BrowserContext, errors: string[]): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return page;
}

/** A browser for one test file: a page recording console errors into `consoleErrors`, and its removal. */
export interface BrowserSession {
  page: Page;
  consoleErrors: string[];
  close(): Promise<void>;
}

export async function openBrowser(viewport?: { width: number; height: number }): Promise<BrowserSession> {
  const { context, userDataDir } = await launchChromium(viewport);
  const consoleErrors: string[] = [];
  // A CSP refusal of anything the page does shows up here as a console error.
  const page = await pageRecordingErrors(context, consoleErrors);
  return {
    page,
    consoleErrors,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
