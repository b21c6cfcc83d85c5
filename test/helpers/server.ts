// A whole sandrun server in the test process: temp data dir, real engine, real HTTP on port 0.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import type { Scope } from '../../src/auth/principal.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger, createSandrun, type Sandrun } from '../../src/sandrun.ts';
import { pollRun, type PollOptions } from './poll-run.ts';

export const ALL_SCOPES: Scope[] = ['runs:read', 'runs:write', 'projects:read', 'projects:write'];

export interface TestServer {
  sandrun: Sandrun;
  url: string;
  dataDir: string;
  /** Creates an API token for a tenant (all non-admin scopes unless given). */
  token(tenant: string, scopes?: Scope[]): Promise<string>;
  /** fetch + JSON with a bearer token. */
  request(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  /** Polls GET /v1/runs/{id} until the run is terminal (or in `options.until`); see poll-run.ts. */
  waitForRun(token: string, runId: string, options?: PollOptions): Promise<any>;
  close(): Promise<void>;
}

/** `logs` receives the server's log lines (at SANDRUN_LOG_LEVEL, which a test then sets). */
export async function startTestServer(env: Record<string, string> = {}, options: { dataDir?: string; logs?: DestinationStream } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sandrun-data-'));
  const config: Config = loadConfig({
    SANDRUN_DATA_DIR: dataDir,
    SANDRUN_PORT: '0',
    SANDRUN_ALLOW_LOCAL_REPOS: '1',
    SANDRUN_LOG_LEVEL: process.env.SANDRUN_TEST_LOG_LEVEL ?? 'silent',
    SANDRUN_SHUTDOWN_GRACE_SECONDS: '0',
    SANDRUN_MIN_FREE_MB: '16',
    ...env,
  });
  const sandrun = await createSandrun(config, createLogger(config, options.logs));
  const address = await sandrun.listen();
  const url = `http://127.0.0.1:${address.port}`;
  const server: TestServer = {
    sandrun,
    url,
    dataDir,
    async token(tenant, scopes = ALL_SCOPES) {
      return (await sandrun.apiTokens.create({ tenantId: tenant, scopes })).token;
    },
    waitForRun(token, runId, options) {
      return pollRun(() => server.request(token, 'GET', `/v1/runs/${runId}`), runId, options);
    },
    async request(token, method, path, body) {
      const response = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        // not JSON (SSE, metrics): keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async close() {
      await sandrun.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}
