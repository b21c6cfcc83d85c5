// The audit log: every mutating call and every denied one leaves exactly one entry, readable by the tenant's admin and by the operator's CLI.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, startTestServer, type TestServer } from '../helpers/server.ts';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

let server: TestServer;
let repo: TestRepo;
let admin: string;
let tenant: string;

async function auditEntries(limit = 500): Promise<any[]> {
  const answer = await server.request(admin, 'GET', `/v1/audit?limit=${limit}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.entries;
}

/** Does the call, then returns the audit entries it added (the middleware writes once the response is done). */
async function added(call: () => Promise<unknown>): Promise<any[]> {
  const before = (await auditEntries(1))[0]?.id ?? 0;
  await call();
  await new Promise((resolve) => setTimeout(resolve, 50));
  return (await auditEntries()).filter((entry) => entry.id > before && entry.action !== 'GET /v1/audit');
}

beforeAll(async () => {
  server = await startTestServer();
  repo = new TestRepo(DEMO_FILES);
  tenant = `audit-${process.pid}`;
  admin = await server.token(tenant, [...ALL_SCOPES, 'admin']);
});

afterAll(async () => {
  await server?.close();
  repo?.remove();
});

describe('audit log', () => {
  it('every mutating route leaves one entry naming the credential, action, target and source', async () => {
    const tokenId = admin ? (await server.sandrun.apiTokens.list(tenant))[0]!.id : '';
    const calls: [string, () => Promise<{ status: number; body: any }>, string, string | RegExp][] = [
      ['register', () => server.request(admin, 'POST', '/v1/projects', { name: 'demo', repo_url: repo.dir }), 'POST /v1/projects', /^/],
      ['refresh', () => server.request(admin, 'POST', '/v1/projects/demo/refresh'), 'POST /v1/projects/:id/refresh', 'project:demo'],
      ['run', () => server.request(admin, 'POST', '/v1/runs', { scope: 'project', mode: 'async', project_name: 'demo' }), 'POST /v1/runs', /^run:/],
      ['create token', () => server.request(admin, 'POST', '/v1/tokens', { scopes: ['runs:read'] }), 'POST /v1/tokens', /^/],
    ];
    for (const [name, call, action, target] of calls) {
      let status = 0;
      const entries = await added(async () => (status = (await call()).status));
      expect(status, name).toBeLessThan(300);
      expect(entries, `${name}: ${JSON.stringify(entries)}`).toHaveLength(1);
      expect(entries[0]).toMatchObject({ tenant, credential_id: `token:${tokenId}`, action, status, outcome: 'ok' });
      expect(entries[0].target ?? '', name).toMatch(target);
      expect(entries[0].source_address).toMatch(/127\.0\.0\.1/);
    }
    const runs = await server.request(admin, 'GET', '/v1/runs');
    const runId = runs.body.runs[0].run_id;
    const cancel = await added(() => server.request(admin, 'POST', `/v1/runs/${runId}/cancel`));
    expect(cancel).toHaveLength(1);
    expect(cancel[0]).toMatchObject({ action: 'POST /v1/runs/:id/cancel', target: `run:${runId}` });
    const tokens = await server.request(admin, 'GET', '/v1/tokens');
    const readOnly = tokens.body.tokens.find((token: any) => token.id !== tokenId);
    const revoke = await added(() => server.request(admin, 'DELETE', `/v1/tokens/${readOnly.id}`));
    expect(revoke).toHaveLength(1);
    expect(revoke[0]).toMatchObject({ action: 'DELETE /v1/tokens/:id', target: `token:${readOnly.id}`, status: 204 });
    const removal = await added(() => server.request(admin, 'DELETE', '/v1/projects/demo'));
    expect(removal).toEqual([expect.objectContaining({ action: 'DELETE /v1/projects/:id', target: 'project:demo', status: 204, outcome: 'ok' })]);
    await server.request(admin, 'POST', '/v1/projects', { name: 'demo', repo_url: repo.dir });
    const reads = await added(() => server.request(admin, 'GET', '/v1/projects'));
    expect(reads, 'a read that succeeds is not audited').toHaveLength(0);
  });

  it('denied calls leave one entry each: 401, 403, another tenant’s 404, and an MCP tool refused', async () => {
    const unauthenticated = await added(() => fetch(`${server.url}/v1/runs`, { method: 'POST', headers: { authorization: 'Bearer sr_wrong' } }));
    // No tenant could be named for a 401, so the tenant's own audit cannot show it; the operator's CLI does (below).
    expect(unauthenticated).toHaveLength(0);

    const reader = await server.token(tenant, ['runs:read']);
    const forbidden = await added(() => server.request(reader, 'POST', '/v1/runs', { scope: 'project', mode: 'async', project_name: 'demo' }));
    expect(forbidden).toHaveLength(1);
    expect(forbidden[0]).toMatchObject({ action: 'POST /v1/runs', status: 403, outcome: 'denied', error_code: 'forbidden' });

    const intruder = await server.token(`audit-intruder-${process.pid}`);
    const runId = (await server.request(admin, 'GET', '/v1/runs')).body.runs[0].run_id;
    const probe = await server.request(intruder, 'GET', `/v1/runs/${runId}`);
    expect(probe.status).toBe(404);
    const intruderAdmin = await server.token(`audit-intruder-${process.pid}`, ['admin']);
    const theirs = (await server.request(intruderAdmin, 'GET', '/v1/audit')).body.entries;
    expect(theirs.filter((entry: any) => entry.action === 'GET /v1/runs/:id')).toEqual([
      expect.objectContaining({ status: 404, outcome: 'denied', target: `run:${runId}`, error_code: 'not_found' }),
    ]);
    expect((await auditEntries()).some((entry) => entry.tenant !== tenant), 'an admin sees only its own tenant').toBe(false);

    const client = new Client({ name: 'audit-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${reader}` } } }));
    const refused = await added(() => client.callTool({ name: 'run', arguments: { scope: 'project', mode: 'async', project_name: 'demo' } }));
    await client.close();
    expect(refused, JSON.stringify(refused)).toHaveLength(1);
    expect(refused[0]).toMatchObject({ action: 'mcp:run', target: 'project:demo', outcome: 'denied', error_code: 'forbidden' });
  });

  it('a mutating call is audited whatever the case, slashes or escapes of its path', async () => {
    const raw = (method: string, path: string, body?: unknown) =>
      fetch(server.url + path, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, body: (await response.json().catch(() => null)) as any }));
    let created: { status: number; body: any } = { status: 0, body: null };
    const upper = await added(async () => (created = await raw('POST', '/V1/TOKENS', { scopes: ['runs:read'] })));
    expect(created.status, 'express routes it whatever the case').toBe(201);
    expect(upper, JSON.stringify(upper)).toEqual([expect.objectContaining({ action: 'POST /v1/tokens', status: 201, outcome: 'ok' })]);

    const trailing = await added(async () => (created = await raw('POST', '/v1/Tokens/', { scopes: ['runs:read'] })));
    expect(created.status).toBe(201);
    expect(trailing).toEqual([expect.objectContaining({ action: 'POST /v1/tokens', status: 201, outcome: 'ok' })]);

    const id: string = created.body.id;
    const encoded = id.replace(/-/g, '%2D');
    const revoked = await added(async () => expect((await raw('DELETE', `/V1/TOKENS/${encoded}`)).status).toBe(204));
    expect(revoked).toEqual([expect.objectContaining({ action: 'DELETE /v1/tokens/:id', target: `token:${id}`, status: 204, outcome: 'ok' })]);

    // Not routed (so not authenticated and nothing changed), but the attempt is on record for the operator.
    const requestId = `audit-doubled-${process.pid}`;
    const doubled = await fetch(`${server.url}//v1//runs`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'x-request-id': requestId } });
    expect(doubled.status).toBe(404);
    await doubled.text();
    const select = server.sandrun.database.sqlite!.prepare('SELECT action, status, outcome FROM audit_log WHERE request_id = ?');
    // Written once the response is done, which the client may see first.
    for (const deadline = Date.now() + 5_000; select.all(requestId).length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(select.all(requestId)).toEqual([{ action: 'POST /v1/runs', status: 404, outcome: 'denied' }]);
  });

  it('each tool call of an MCP batch is its own entry: every mutating call, and every denied one', async () => {
    const call = (id: number, name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
    const batch = [
      call(1, 'run', { scope: 'project', mode: 'async', project_name: 'no-such-project' }),
      call(2, 'cancel_run', { run_id: 'no-such-run' }),
      call(3, 'list_projects', {}),
      call(4, 'get_run', { run_id: 'another-missing-run' }),
      { jsonrpc: '2.0', id: 5, method: 'tools/list' },
    ];
    let status = 0;
    const entries = await added(async () => {
      const response = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(batch),
      });
      status = response.status;
      await response.text();
    });
    expect(status).toBe(200);
    const summary = entries.map((entry) => `${entry.action} ${entry.target} ${entry.outcome} ${entry.error_code}`).sort();
    expect(summary, 'the read that succeeded (list_projects) and tools/list are not audited').toEqual([
      'mcp:cancel_run run:no-such-run denied not_found',
      'mcp:get_run run:another-missing-run denied not_found',
      'mcp:run project:no-such-project denied not_found',
    ]);
  });

  it('`sandrun audit` reads the log from the database, 401s included', async () => {
    const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'audit', '--json', '--limit', '500'], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir }, encoding: 'utf8' }, (error, stdout) =>
        resolve({ code: error ? 1 : 0, stdout }),
      );
    });
    expect(result.code, result.stdout).toBe(0);
    const entries = JSON.parse(result.stdout).entries as any[];
    expect(entries.filter((entry) => entry.status === 401)).toEqual([expect.objectContaining({ tenant: null, credential_id: null, action: 'POST /v1/runs', outcome: 'denied' })]);
    expect(entries.some((entry) => entry.action === 'mcp:run')).toBe(true);
  });

  it('the log is append-only', () => {
    expect(() => server.sandrun.database.sqlite!.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(() => server.sandrun.database.sqlite!.prepare("UPDATE audit_log SET action = 'x'").run()).toThrow(/append-only/);
  });
});
