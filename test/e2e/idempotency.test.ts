// Idempotent submission: one key, one run — over REST (Idempotency-Key) and over MCP (idempotency_key), even when retries race.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let repo: TestRepo;
let token: string;
let client: Client;

async function submit(body: unknown, key?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(`${server.url}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

async function runCount(): Promise<number> {
  const listed = await server.request(token, 'GET', '/v1/runs?project_name=demo&limit=200');
  return listed.body.runs.length;
}

beforeAll(async () => {
  server = await startTestServer();
  repo = new TestRepo(DEMO_FILES);
  token = await server.token(`idem-${process.pid}`);
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'demo', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  client = new Client({ name: 'sandrun-idempotency', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
});

afterAll(async () => {
  await client?.close();
  await server?.close();
  repo?.remove();
});

describe('idempotent submission', () => {
  it('two submissions with one key make one run; a different body with that key is 409', async () => {
    const key = randomUUID();
    const body = { scope: 'model', mode: 'sync', project_name: 'demo', model_name: 'revenue', parameters: { growth_rate: 0.1 } };
    const before = await runCount();
    const first = await submit(body, key);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    // The same request spelled differently (key order, explicit nulls) is the same request.
    const second = await submit({ parameters: { growth_rate: 0.1 }, model_name: 'revenue', project_name: 'demo', mode: 'sync', scope: 'model', branch: null }, key);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.run_id).toBe(first.body.run_id);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await runCount()).toBe(before + 1);

    const third = await submit({ ...body, parameters: { growth_rate: 0.2 } }, key);
    expect(third.status, JSON.stringify(third.body)).toBe(409);
    expect(third.body.error.message).toMatch(/idempotency key/);
    expect(await runCount()).toBe(before + 1);
  });

  it('async: a retry returns the same queued fields', async () => {
    const key = randomUUID();
    const body = { scope: 'project', mode: 'async', project_name: 'demo' };
    const first = await submit(body, key);
    const second = await submit(body, key);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
  });

  it('concurrent submissions with one key make one run', async () => {
    const key = randomUUID();
    const before = await runCount();
    const answers = await Promise.all(Array.from({ length: 6 }, () => submit({ scope: 'model', mode: 'async', project_name: 'demo', model_name: 'summary' }, key)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(6).fill(202));
    expect(new Set(answers.map((answer) => answer.body.run_id)).size, JSON.stringify(answers.map((a) => a.body.run_id))).toBe(1);
    expect(await runCount()).toBe(before + 1);
  });

  it('a malformed key is a 400 that names the rule', async () => {
    const answer = await submit({ scope: 'project', mode: 'async', project_name: 'demo' }, 'x'.repeat(300));
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/at most 255/);
  });

  it('MCP: a retried run call with the same idempotency_key returns the first run', async () => {
    const key = randomUUID();
    const args = { scope: 'model', mode: 'sync', project_name: 'demo', model_name: 'revenue', idempotency_key: key };
    const before = await runCount();
    const first = (await client.callTool({ name: 'run', arguments: args })) as CallToolResult;
    const retry = (await client.callTool({ name: 'run', arguments: args })) as CallToolResult;
    expect(first.isError, JSON.stringify(first.content)).toBeFalsy();
    expect((retry.structuredContent as any).run_id).toBe((first.structuredContent as any).run_id);
    expect(await runCount()).toBe(before + 1);
    const other = (await client.callTool({ name: 'run', arguments: { ...args, model_name: 'summary' } })) as CallToolResult;
    expect(other.isError).toBe(true);
    expect(JSON.stringify(other.content)).toMatch(/conflict/);
  });
});
