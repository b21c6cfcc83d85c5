// Live-log streams cannot exhaust the server: clients that never read are dropped, and a tenant's open streams are capped.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/sandrun.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess } from '../helpers/server-process.ts';

const MAX_STREAMS = 3;
const RSS_LIMIT_BYTES = 300 * 1e6;
// 1 GiB to stdout in 1 MiB writes, after a pause that lets the followers connect while it runs.
const FLOOD = 'import sys, time\ntime.sleep(3)\nchunk = (b"x" * 1023 + b"\\n") * 1024\nfor _ in range(1024): sys.stdout.buffer.write(chunk)\n';

let dataDir: string;
let repo: TestRepo;
let server: ServerProcess;
const tokens: Record<string, string> = {};
const sockets: Socket[] = [];

async function call(tenant: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${tokens[tenant]}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text, headers: response.headers };
}

const waitForRun = (tenant: string, runId: string, until?: string[]) => pollRun(() => call(tenant, 'GET', `/v1/runs/${runId}`), runId, { until, timeoutMs: 300_000 });

function rssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/**
 * Opens GET /v1/runs/{id}/logs?follow=1 on a raw socket, reads the response head, then stops reading for good (the
 * kernel's buffers fill and the server's writes back up). Resolves with the status line.
 */
function followWithoutReading(tenant: string, runId: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const port = new URL(server.url).port;
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    let head = '';
    socket.on('error', () => undefined); // the server may drop it: that is the point
    socket.once('connect', () =>
      socket.write(`GET /v1/runs/${runId}/logs?follow=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${tokens[tenant]}\r\n\r\n`),
    );
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve(head.slice(0, head.indexOf('\r\n')));
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`the log stream closed before its response head: ${head}`)));
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-live-logs-'));
  repo = new TestRepo({ 'models/flood.py': FLOOD, 'models/wait.py': 'import time\nprint("waiting", flush=True)\ntime.sleep(120)\n', 'models/hello.py': 'print("hello")\n' });
  const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  for (const tenant of ['flooder', 'other']) {
    tokens[tenant] = (await stores.apiTokens.create({ tenantId: tenant, scopes: ['runs:read', 'runs:write', 'projects:read', 'projects:write'] })).token;
  }
  await stores.database.close();
  server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_TENANT_MAX_LOG_STREAMS: String(MAX_STREAMS) }, await freePort());
  for (const tenant of ['flooder', 'other']) {
    const registered = await call(tenant, 'POST', '/v1/projects', { name: 'logs', repo_url: repo.dir });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  }
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});
afterAll(async () => {
  if (server) await stopGracefully(server);
  rmSync(dataDir, { recursive: true, force: true });
  repo?.remove();
});

describe('live logs', () => {
  it('three followers that never read a run printing 1 GB keep the server under 300 MB, and the run still ends with its truncated log', async () => {
    const pid = server.child.pid!;
    const before = rssBytes(pid);
    const submitted = await call('flooder', 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'logs', model_name: 'flood' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const runId: string = submitted.body.run_id;
    await waitForRun('flooder', runId, ['running']);
    const heads = await Promise.all(Array.from({ length: 3 }, () => followWithoutReading('flooder', runId)));
    expect(heads).toEqual(Array(3).fill('HTTP/1.1 200 OK'));
    const meanwhile = await call('flooder', 'GET', `/v1/runs/${runId}`);
    expect(meanwhile.body.status, 'the followers connected while the run was live').toBe('running');

    let peak = 0;
    let samples = 0;
    let running = true;
    const sampling = (async () => {
      for (; running; samples += 1) {
        peak = Math.max(peak, rssBytes(pid));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const finished = await waitForRun('flooder', runId).finally(() => (running = false));
    await sampling;
    console.log(`server RSS ${Math.round(before / 1e6)} MB before, peak ${Math.round(peak / 1e6)} MB over ${samples} samples while the run printed 1 GB to 3 followers that never read`);
    expect(peak, `peak server RSS ${Math.round(peak / 1e6)} MB`).toBeLessThan(RSS_LIMIT_BYTES);
    expect(finished).toMatchObject({ status: 'success', stdout_truncated: true, exit_code: 0 });
    expect(finished.stdout.length).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    // The dropped followers no longer count: the tenant may open a stream again (the test's sockets are still open).
    const again = await call('flooder', 'GET', `/v1/runs/${runId}/logs`);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toContain('event: end');
  }, 600_000);

  it(`a tenant's stream past ${MAX_STREAMS} is refused with 429 while another tenant can still open one`, async () => {
    const submitted = await call('flooder', 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'logs', model_name: 'wait' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const runId: string = submitted.body.run_id;
    await waitForRun('flooder', runId, ['running']);
    for (let i = 0; i < MAX_STREAMS; i += 1) expect(await followWithoutReading('flooder', runId)).toBe('HTTP/1.1 200 OK');

    const refused = await call('flooder', 'GET', `/v1/runs/${runId}/logs?follow=1`);
    expect(refused.status, JSON.stringify(refused.body)).toBe(429);
    expect(refused.body.error.message).toContain(`${MAX_STREAMS} open live-log streams`);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);

    const other = await call('other', 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'logs', model_name: 'hello' });
    expect(other.body.status).toBe('success');
    const otherLogs = await call('other', 'GET', `/v1/runs/${other.body.run_id}/logs?follow=1`);
    expect(otherLogs.status, JSON.stringify(otherLogs.body)).toBe(200);
    expect(otherLogs.body).toContain('hello');

    // A closed stream frees its slot.
    sockets.pop()!.destroy();
    const deadline = Date.now() + 30_000;
    let reopened = await call('flooder', 'GET', `/v1/runs/${runId}/logs`);
    while (reopened.status === 429 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      reopened = await call('flooder', 'GET', `/v1/runs/${runId}/logs`);
    }
    expect(reopened.status, JSON.stringify(reopened.body)).toBe(200);
    expect((await call('flooder', 'POST', `/v1/runs/${runId}/cancel`)).status).toBe(200);
  });
});
