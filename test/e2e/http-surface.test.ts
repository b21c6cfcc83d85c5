// Malformed requests against `sandrun serve` as a child process (a crash would show as an exit): bad escapes, deep parameters, readiness text.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/sandrun.ts';
import { EngineProxy } from '../helpers/engine-proxy.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess, tokenForServer } from '../helpers/server-process.ts';

let dataDir: string;
let proxy: EngineProxy;
let server: ServerProcess;
let token: string;

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

async function call(method: string, path: string, options: { token?: string; body?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(server.url + path, {
    method,
    headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), 'content-type': 'application/json', ...options.headers },
    body: options.body,
  });
  const text = await response.text();
  return { status: response.status, text };
}

/** The server process still runs and answers its liveness check. */
async function expectAlive(after: string): Promise<void> {
  const health = await fetch(`${server.url}/healthz`).catch((error: unknown) => error);
  expect(server.child.exitCode, `after ${after} the server exited: ${server.output().slice(-2000)}`).toBeNull();
  expect(health instanceof Response ? health.status : String(health), `/healthz after ${after}`).toBe(200);
}

/** A run request whose parameters nest `depth` levels (`{"a": {"a": ... {}}}`), as JSON text: nothing recursive builds it. */
function deepRunRequest(depth: number): string {
  return `{"scope":"project","mode":"async","project_name":"no-such-project","parameters":${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}}`;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-surface-'));
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'surface', ['runs:read', 'runs:write', 'projects:read']);
  proxy = new EngineProxy(join(dataDir, 'engine.sock'));
  await proxy.up();
  server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, DOCKER_HOST: proxy.dockerHost, SANDRUN_LOG_LEVEL: 'warn' }, await freePort());
});

afterAll(async () => {
  await proxy?.up().catch(() => undefined);
  if (server) await stopGracefully(server);
  await proxy?.down();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a malformed path', () => {
  it('GET /v1/runs/%ZZ without a token answers 401 and the server keeps serving', async () => {
    const answer = await call('GET', '/v1/runs/%ZZ');
    expect(answer.status, answer.text).toBe(401);
    await expectAlive('GET /v1/runs/%ZZ');
  });

  it('POST /v1/runs/%ZZ/cancel with a token answers 400 naming the path, and the server keeps serving', async () => {
    const answer = await call('POST', '/v1/runs/%ZZ/cancel', { token });
    expect(answer.status, answer.text).toBe(400);
    expect(JSON.parse(answer.text).error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('path') });
    await expectAlive('POST /v1/runs/%ZZ/cancel');
  });

  it('other broken escapes, in any route and case, are client errors and never stop the server', async () => {
    for (const [method, path] of [
      ['DELETE', '/v1/projects/%E0%A4%A'],
      ['GET', '/v1/projects/%'],
      ['GET', '/V1/RUNS/%ZZ/LOGS?follow=1'],
      ['POST', '/v1/projects/%C0%AE%ZZ/refresh'],
      ['GET', '/v1/runs/%ZZ/request'],
    ]) {
      const answer = await call(method!, path!, { token });
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBeGreaterThanOrEqual(400);
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBeLessThan(500);
      await expectAlive(`${method} ${path}`);
    }
  });
});

describe('parameters nested too deep', () => {
  it('20,000 levels is a 400 naming parameters and the limit, answered without a 500', async () => {
    const started = Date.now();
    const answer = await call('POST', '/v1/runs', { token, body: deepRunRequest(20_000) });
    expect(answer.status, answer.text).toBe(400);
    expect(JSON.parse(answer.text).error.message).toMatch(/^parameters\b.*nested more than \d+ levels deep.*SANDRUN_PARAMETERS_MAX_DEPTH/);
    // Not a timing test: a generous bound only says it was refused at once, not after a long parse.
    expect(Date.now() - started, 'answered at once').toBeLessThan(10_000);
    await expectAlive('parameters 20,000 deep');
  });

  it('one level past the default limit of 32 is a 400 naming parameters; 32 levels pass validation', async () => {
    const over = await call('POST', '/v1/runs', { token, body: deepRunRequest(33) });
    expect(over.status, over.text).toBe(400);
    expect(JSON.parse(over.text).error).toMatchObject({
      code: 'invalid_request',
      message: 'parameters: nested more than 32 levels deep; the limit is 32 levels (SANDRUN_PARAMETERS_MAX_DEPTH)',
      details: { issues: [{ path: 'parameters' }] },
    });
    const within = await call('POST', '/v1/runs', { token, body: deepRunRequest(32) });
    expect(within.status, `validation passed, so the missing project is what answers: ${within.text}`).toBe(404);
  });

  it('over MCP, the run tool refuses them the same way, as a tool error', async () => {
    for (const depth of [33, 20_000]) {
      const args = deepRunRequest(depth);
      const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":${args}}}`;
      const answer = await call('POST', '/mcp', { token, body, headers: MCP_HEADERS });
      // 20,000 levels is refused before the body is parsed (HTTP 400); 33 reaches the tool, which refuses it.
      if (depth === 33) {
        expect(answer.status, answer.text).toBe(200);
        expect(JSON.parse(answer.text).result.isError, answer.text).toBe(true);
      } else {
        expect(answer.status, answer.text.slice(0, 500)).toBe(400);
      }
      expect(answer.text.slice(0, 2000), `${depth} levels`).toMatch(/parameters.*nested more than \d+ levels deep/);
      await expectAlive(`MCP run with parameters ${depth} deep`);
    }
  });
});

describe('readiness', () => {
  it('while the engine is down, /readyz says unavailable and never shows the engine error text', async () => {
    await proxy.down();
    try {
      const response = await fetch(`${server.url}/readyz`);
      const text = await response.text();
      expect(response.status, text).toBe(503);
      expect(JSON.parse(text)).toEqual({ status: 'not_ready', checks: { database: 'ok', engine: 'unavailable' } });
      expect(text, 'no socket path or errno').not.toMatch(/sock|ENOENT|ECONNREFUSED|connect|\//);
    } finally {
      await proxy.up();
    }
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${server.url}/readyz`)).status !== 200) {
      expect(Date.now(), 'ready again once the engine is back').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
});

describe('a client that never finishes sending', () => {
  it('gets 408 and its socket closed after SANDRUN_REQUEST_RECEIVE_TIMEOUT_SECONDS, and the server keeps serving', async () => {
    // A server of its own (its own data directory): one data directory is one server's.
    const slowDataDir = mkdtempSync(join(tmpdir(), 'sandrun-surface-slow-'));
    const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: slowDataDir }));
    const slowToken = (await stores.apiTokens.create({ tenantId: 'surface', scopes: ['runs:write'] })).token;
    await stores.database.close();
    const slow = await startServerProcess(
      { SANDRUN_DATA_DIR: slowDataDir, DOCKER_HOST: proxy.dockerHost, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_REQUEST_RECEIVE_TIMEOUT_SECONDS: '1' },
      await freePort(),
    );
    try {
      const { connect } = await import('node:net');
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(slow.url).port), '127.0.0.1', () =>
          socket.write(`POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${slowToken}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"scope":`),
        );
        let received = '';
        socket.on('data', (chunk) => (received += chunk.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
        // Far past the 1 s bound (and Node's check interval), so a hang is a failure, not a slow machine.
        setTimeout(() => reject(new Error(`no answer after 30 s; received ${JSON.stringify(received)}`)), 30_000).unref();
      });
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      expect(Date.now() - started, 'not before the bound').toBeGreaterThanOrEqual(1000);
      expect((await fetch(`${slow.url}/healthz`)).status).toBe(200);
    } finally {
      await stopGracefully(slow);
      rmSync(slowDataDir, { recursive: true, force: true });
    }
  });
});
