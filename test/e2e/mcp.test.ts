// POST /mcp end to end: the SDK's own Client over real HTTP against a real server, real git repos and real runs.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** The seed's description of `run`, to the letter (seed/run-tool.txt). */
const SEED_RUN_DESCRIPTION =
  'Unified execution tool for both project-level and model-level runs in sync or async mode. Discriminators: scope=‘project’|‘model’ and mode=‘sync’|‘async’. When scope=‘project’, omit model_name; when scope=‘model’, model_name is required. When mode=‘async’, a run_id is returned in pending state and you should poll get_run. When mode=‘sync’, terminal stdout/stderr/outputs are returned inline. Optional parameters are delivered as read-only /inputs/parameters.json, including an explicit empty object {}. Worked examples: 1) Project + sync: run(scope=‘project’, mode=‘sync’, project_name=‘acme’). 2) Model + sync with parameters: run(scope=‘model’, mode=‘sync’, project_name=‘acme’, model_name=‘revenue’, parameters={‘discount_rate’: 0.08}). 3) Project + async: run(scope=‘project’, mode=‘async’, project_name=‘acme’). 4) Model + async: run(scope=‘model’, mode=‘async’, project_name=‘acme’, model_name=‘revenue’). Returns: Sync mode returns terminal fields (status, exit_code, stdout, stderr, outputs, duration_seconds, run_id). Async mode returns queued-run fields (run_id, run_number, status=‘pending’, project_name, model_name, commit_sha, message, warning).';

/** Every field of the seed's response example. */
const SEED_SYNC_FIELDS = ['run_id', 'project', 'branch', 'commit_sha', 'status', 'exit_code', 'stdout', 'stderr', 'stdout_truncated', 'stderr_truncated', 'outputs', 'duration_seconds', 'data_snapshot_ref', 'error'];
const SEED_ASYNC_FIELDS = ['run_id', 'run_number', 'status', 'project_name', 'model_name', 'commit_sha', 'message', 'warning'];
const TERMINAL = ['success', 'failed', 'timed_out', 'cancelled', 'error'];

let server: TestServer;
let repo: TestRepo;
let brokenRepo: TestRepo;
const clients: Client[] = [];

async function connect(token: string): Promise<Client> {
  const client = new Client({ name: 'sandrun-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  clients.push(client);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

const textOf = (result: CallToolResult): string => result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n');

async function pollUntilTerminal(client: Client, runId: string): Promise<CallToolResult> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const result = await call(client, 'get_run', { run_id: runId });
    const status = (result.structuredContent as any)?.status;
    if (TERMINAL.includes(status) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let alice: Client;

beforeAll(async () => {
  server = await startTestServer();
  repo = new TestRepo(DEMO_FILES);
  brokenRepo = new TestRepo({ 'models/crash.py': 'import sys\nprint("the data file is missing", file=sys.stderr)\nsys.exit(3)\n' });
  const token = await server.token('mcp-alice');
  for (const [name, dir] of [['forecasts', repo.dir], ['broken', brokenRepo.dir]]) {
    const created = await server.request(token, 'POST', '/v1/projects', { name, repo_url: dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
  alice = await connect(token);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server?.close();
  repo?.remove();
  brokenRepo?.remove();
});

describe('MCP tools', () => {
  it('lists the six tools, with run exactly as the seed describes it', async () => {
    const { tools } = await alice.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['cancel_run', 'get_run', 'list_models', 'list_projects', 'list_runs', 'run']);
    for (const tool of tools) expect(tool.description?.length, tool.name).toBeGreaterThan(40);

    const run = tools.find((tool) => tool.name === 'run')!;
    expect(run.description).toBe(SEED_RUN_DESCRIPTION);
    const properties = run.inputSchema.properties as Record<string, any>;
    // The seed's fields, plus the one optional idempotency_key the operators' issue adds (docs/mcp.md).
    expect(Object.keys(properties).sort()).toEqual(['branch', 'commit_sha', 'idempotency_key', 'mode', 'model_name', 'parameters', 'project_name', 'scope']);
    expect(properties.idempotency_key.type).toBe('string');
    expect([...(run.inputSchema.required ?? [])].sort()).toEqual(['mode', 'project_name', 'scope']);
    expect(properties.scope.enum).toEqual(['project', 'model']);
    expect(properties.mode.enum).toEqual(['sync', 'async']);
    expect(properties.project_name.type).toBe('string');
    const typesOf = (schema: any): string[] => (schema.anyOf ? schema.anyOf.flatMap(typesOf) : [schema.type].flat()).sort();
    for (const name of ['model_name', 'branch', 'commit_sha']) expect(typesOf(properties[name]), name).toEqual(['null', 'string']);
    expect(typesOf(properties.parameters)).toEqual(['null', 'object']);

    const readOnly = Object.fromEntries(tools.map((tool) => [tool.name, tool.annotations?.readOnlyHint]));
    expect(readOnly).toEqual({ run: false, get_run: true, list_runs: true, cancel_run: false, list_projects: true, list_models: true });
    for (const tool of tools) expect(tool.annotations?.destructiveHint, tool.name).toBe(false);
  });

  it('worked example 1: project + sync returns every field of the seed response', async () => {
    const result = await call(alice, 'run', { scope: 'project', mode: 'sync', project_name: 'forecasts' });
    expect(result.isError, textOf(result)).toBeFalsy();
    const run = result.structuredContent as any;
    for (const field of SEED_SYNC_FIELDS) expect(run, field).toHaveProperty(field);
    expect(run).toMatchObject({ project: 'forecasts', scope: 'project', model_name: null, branch: null, status: 'success', exit_code: 0, error: null, replay_of: null, outputs_match: null });
    expect(run.data_snapshot_ref, 'recorded when the run started (SPEC §12)').toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run.commit_sha).toBe(repo.head());
    expect(Object.keys(run.outputs).sort()).toEqual(['revenue', 'summary']);
    expect(textOf(result)).toMatch(/succeeded/);
  });

  it('worked example 2: model + sync with parameters delivers them and returns the outputs', async () => {
    const result = await call(alice, 'run', { scope: 'model', mode: 'sync', project_name: 'forecasts', model_name: 'revenue', parameters: { discount_rate: 0.08, growth_rate: 0.2 } });
    expect(result.isError, textOf(result)).toBeFalsy();
    const run = result.structuredContent as any;
    for (const field of SEED_SYNC_FIELDS) expect(run, field).toHaveProperty(field);
    expect(run).toMatchObject({ model_name: 'revenue', status: 'success', exit_code: 0, stdout_truncated: false, stderr_truncated: false, outputs: { revenue: [100, 120, 144] } });
    expect(run.stdout).toContain('revenue at growth 0.2');
    expect(run.duration_seconds).toBeGreaterThan(0);
  });

  it('worked examples 3 and 4: async returns the queued-run fields, and get_run reaches success', async () => {
    const examples = [
      { scope: 'project', mode: 'async', project_name: 'forecasts' },
      { scope: 'model', mode: 'async', project_name: 'forecasts', model_name: 'revenue' },
    ];
    for (const args of examples) {
      const queued = await call(alice, 'run', args);
      expect(queued.isError, textOf(queued)).toBeFalsy();
      const receipt = queued.structuredContent as any;
      expect(Object.keys(receipt).sort()).toEqual([...SEED_ASYNC_FIELDS].sort());
      expect(receipt).toMatchObject({ status: 'pending', project_name: 'forecasts', model_name: args.model_name ?? null, commit_sha: repo.head(), warning: null });
      expect(receipt.run_number).toBeGreaterThan(0);
      expect(receipt.message).toContain('get_run');

      const finished = await pollUntilTerminal(alice, receipt.run_id);
      expect(finished.isError, textOf(finished)).toBeFalsy();
      expect((finished.structuredContent as any).status).toBe('success');
      expect((finished.structuredContent as any).run_id).toBe(receipt.run_id);
    }
  });

  it('a failed run is an isError result that still carries the whole run', async () => {
    const result = await call(alice, 'run', { scope: 'model', mode: 'sync', project_name: 'broken', model_name: 'crash' });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({ status: 'failed', exit_code: 3, error: { code: 'nonzero_exit' } });
    expect((result.structuredContent as any).stderr).toContain('the data file is missing');
    expect(textOf(result)).toMatch(/failed.*stderr/s);
  });

  it('list_runs, list_projects and list_models answer with the REST JSON', async () => {
    const runs = await call(alice, 'list_runs', { project_name: 'forecasts', limit: 2 });
    expect(runs.isError, textOf(runs)).toBeFalsy();
    expect((runs.structuredContent as any).runs).toHaveLength(2);
    expect(typeof (runs.structuredContent as any).next_cursor).toBe('string');
    const rest = await server.request(await server.token('mcp-alice'), 'GET', '/v1/runs?project_name=forecasts&limit=2');
    expect(runs.structuredContent).toEqual(rest.body);

    const projects = await call(alice, 'list_projects');
    expect((projects.structuredContent as any).projects.map((project: any) => project.name).sort()).toEqual(['broken', 'forecasts']);

    const models = await call(alice, 'list_models', { project_name: 'forecasts' });
    expect(models.structuredContent).toEqual({ project_name: 'forecasts', models: ['revenue', 'summary'], commit_sha: repo.head() });
  });
});

describe('MCP errors are tool results, not transport errors', () => {
  it('scope=model without model_name is an isError naming model_name', async () => {
    const result = await call(alice, 'run', { scope: 'model', mode: 'sync', project_name: 'forecasts' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("model_name is required when scope='model'");
  });

  it('a mode outside the enum is an isError naming mode', async () => {
    const result = await call(alice, 'run', { scope: 'project', mode: 'later', project_name: 'forecasts' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/mode must be 'sync' or 'async'/);
  });

  it('an unknown field is an isError naming it, as in REST', async () => {
    const result = await call(alice, 'run', { scope: 'project', mode: 'sync', project_name: 'forecasts', timeout_seconds: 5 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('timeout_seconds');
  });

  it('an unknown project or model is an isError that says what exists', async () => {
    const project = await call(alice, 'run', { scope: 'project', mode: 'sync', project_name: 'nope' });
    expect(project.isError).toBe(true);
    expect(textOf(project)).toMatch(/project 'nope' not found.*list_projects/s);
    const model = await call(alice, 'run', { scope: 'model', mode: 'sync', project_name: 'forecasts', model_name: 'nope' });
    expect(model.isError).toBe(true);
    expect(textOf(model)).toMatch(/revenue/);
  });

  it("another tenant's run id is an isError 'not found'", async () => {
    const queued = await call(alice, 'run', { scope: 'model', mode: 'async', project_name: 'forecasts', model_name: 'summary' });
    const runId = (queued.structuredContent as any).run_id;
    const bob = await connect(await server.token('mcp-bob'));
    for (const tool of ['get_run', 'cancel_run']) {
      const result = await call(bob, tool, { run_id: runId });
      expect(result.isError, tool).toBe(true);
      expect(textOf(result), tool).toContain('not found');
    }
    await pollUntilTerminal(alice, runId);
  });

  it('a missing scope is an isError naming the scope', async () => {
    const reader = await connect(await server.token('mcp-alice', ['runs:read']));
    const result = await call(reader, 'run', { scope: 'project', mode: 'async', project_name: 'forecasts' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('runs:write');
    const projects = await call(reader, 'list_projects');
    expect(textOf(projects)).toContain('projects:read');
  });
});

describe('the /mcp endpoint over HTTP', () => {
  const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

  it('a missing or bad token is a 401 before any tool runs', async () => {
    for (const authorization of [undefined, 'Bearer not-a-token']) {
      const response = await fetch(`${server.url}/mcp`, { method: 'POST', headers: { ...headers, ...(authorization ? { authorization } : {}) }, body: JSON.stringify(initialize) });
      expect(response.status, String(authorization)).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(((await response.json()) as any).error.code).toBe('unauthorized');
    }
  });

  it('GET and DELETE are 405 with a JSON error', async () => {
    const token = await server.token('mcp-alice');
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(`${server.url}/mcp`, { method, headers: { authorization: `Bearer ${token}` } });
      expect(response.status, method).toBe(405);
      expect(((await response.json()) as any).error.code).toBe('method_not_allowed');
    }
  });

  /** POST /mcp (initialize) to `target` with this Host header: the status. */
  const postWithHost = (target: TestServer, token: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const body = JSON.stringify(initialize);
      const { port } = new URL(target.url);
      const request = httpRequest({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...headers, host, authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end(body);
    });

  it('a Host header outside the allowed hosts is refused (DNS-rebinding protection); loopback names pass at any port', async () => {
    const token = await server.token('mcp-alice');
    const { port } = new URL(server.url);
    expect(await postWithHost(server, token, 'evil.example:80')).toBe(403);
    expect(await postWithHost(server, token, 'evil.example')).toBe(403);
    expect(await postWithHost(server, token, `localhost:${port}`)).toBe(200);
    expect(await postWithHost(server, token, '127.0.0.1:18080'), 'a published port other than the bound one').toBe(200);
    expect(await postWithHost(server, token, 'LOCALHOST'), 'host names are case-insensitive').toBe(200);
  });

  it('behind a proxy: the host of SANDRUN_PUBLIC_URL and of SANDRUN_MCP_ALLOWED_HOSTS is accepted, nothing else', async () => {
    const proxied = await startTestServer({ SANDRUN_PUBLIC_URL: 'https://sandrun.example.test/', SANDRUN_MCP_ALLOWED_HOSTS: 'mcp.internal:8443, other.internal' });
    try {
      const token = await proxied.token('mcp-proxied');
      for (const [host, status] of [
        ['sandrun.example.test', 200],
        ['Sandrun.Example.Test:443', 200],
        ['mcp.internal:8443', 200],
        ['mcp.internal:9999', 403],
        ['other.internal:1234', 200],
        ['evil.example', 403],
        ['sandrun.example.test.evil.example', 403],
      ] as const) {
        expect(await postWithHost(proxied, token, host), host).toBe(status);
      }
    } finally {
      await proxied.close();
    }
  });
});
