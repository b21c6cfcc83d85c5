// Operating sandrun: Prometheus metrics after real runs, JSON logs naming request, tenant and run without secrets, the OpenAPI document.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger, createSandrun, type Sandrun } from '../../src/sandrun.ts';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';

const SECRET = 'hunter2-do-not-log';
const lines: Record<string, unknown>[] = [];
let raw = '';
let sandrun: Sandrun;
let url: string;
let token: string;
let repo: TestRepo;
let dataDir: string;
let runId: string;

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-obs-'));
  const config = loadConfig({ SANDRUN_DATA_DIR: dataDir, SANDRUN_PORT: '0', SANDRUN_ALLOW_LOCAL_REPOS: '1', SANDRUN_LOG_LEVEL: 'debug' });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  sandrun = await createSandrun(config, createLogger(config, sink));
  url = `http://127.0.0.1:${(await sandrun.listen()).port}`;
  token = (await sandrun.apiTokens.create({ tenantId: 'obs-tenant', scopes: ['runs:read', 'runs:write', 'projects:read', 'projects:write'] })).token;
  repo = new TestRepo(DEMO_FILES);
  expect((await call('POST', '/v1/projects', { name: 'demo', repo_url: repo.dir })).status).toBe(201);
  const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'demo', model_name: 'revenue', parameters: { growth_rate: 0.08, api_key: SECRET } }, { 'x-request-id': 'obs-request-1' });
  expect(run.body.status, run.text).toBe('success');
  runId = run.body.run_id;
  await call('GET', `/v1/runs/${runId}`, undefined, { 'x-request-id': 'obs-request-2' });
});

afterAll(async () => {
  await sandrun?.close();
  repo?.remove();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('metrics', () => {
  it('counts runs by status, and exports durations, queue wait, container start, queue depth and pool counters', async () => {
    const response = await fetch(url + '/metrics');
    expect(response.status, 'a scraper without a token gets every metric').toBe(200);
    const metrics = await response.text();
    expect(metrics).toMatch(/sandrun_runs_total\{status="success"\} 1/);
    expect(metrics).toMatch(/sandrun_run_duration_seconds_count\{status="success"\} 1/);
    expect(metrics).toMatch(/sandrun_queue_wait_seconds_count 1/);
    expect(metrics).toMatch(/sandrun_container_start_seconds_count 1/);
    expect(metrics).toMatch(/sandrun_queue_depth 0/);
    expect(metrics, 'the first run found no parked container').toMatch(/^sandrun_pool_misses_total 1$/m);
    expect(metrics).toMatch(/^sandrun_pool_hits_total 0$/m);
    expect(metrics).toMatch(/sandrun_http_requests_total\{method="POST",route="\/v1\/runs",status="200"\} 1/);
    expect(metrics).toMatch(/sandrun_http_request_duration_seconds_count\{method="POST",route="\/v1\/runs"\} 1/);
  });
});

describe('metrics and tenants', () => {
  const scrape = async (authorization?: string) => {
    const response = await fetch(url + '/metrics', { headers: authorization ? { authorization } : {} });
    return { status: response.status, text: await response.text() };
  };

  it('without an admin token, no tenant name appears anywhere in /metrics', async () => {
    for (const [who, authorization] of [
      ['no token', undefined],
      ['a non-admin token', `Bearer ${token}`],
    ] as const) {
      const answer = await scrape(authorization);
      expect(answer.status, who).toBe(200);
      expect(answer.text, who).not.toContain('obs-tenant');
      expect(answer.text, who).not.toMatch(/tenant=/);
    }
  });

  it('with an admin token, runs are counted per tenant', async () => {
    const admin = (await sandrun.apiTokens.create({ tenantId: 'obs-ops', scopes: ['admin'] })).token;
    const answer = await scrape(`Bearer ${admin}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toMatch(/sandrun_runs_total\{status="success",tenant="obs-tenant"\} 1/);
  });

  it('a bad token is refused rather than taken for no token', async () => {
    expect((await scrape('Bearer sr_not-a-token')).status).toBe(401);
  });
});

describe('logs', () => {
  it('are JSON lines; a request line names its request id, tenant and run id', () => {
    const get = lines.find((line) => line.requestId === 'obs-request-2' && line.msg === 'request');
    expect(get, JSON.stringify(lines.slice(-5))).toMatchObject({ tenantId: 'obs-tenant', runId, route: '/v1/runs/:runId', status: 200 });
    const submit = lines.find((line) => line.requestId === 'obs-request-1' && line.msg === 'request');
    expect(submit).toMatchObject({ tenantId: 'obs-tenant', status: 200 });
    const finished = lines.find((line) => line.msg === 'run finished');
    expect(finished).toMatchObject({ runId, tenantId: 'obs-tenant', status: 'success' });
  });

  it('never hold the token, the authorization header or parameter values', () => {
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(SECRET);
    expect(raw.toLowerCase()).not.toContain('bearer');
  });
});

describe('OpenAPI', () => {
  it('serves an OpenAPI 3.1 document whose run request schema is the validating zod schema', async () => {
    const document: any = await fetch(url + '/openapi.json').then((response) => response.json());
    expect(document.openapi).toBe('3.1.0');
    const request = document.components.schemas.RunRequest;
    expect(request.required).toEqual(['scope', 'mode', 'project_name']);
    expect(request.additionalProperties).toBe(false);
    expect(request.properties.commit_sha.anyOf[0].pattern).toBe('^[0-9a-fA-F]{7,40}$');
    expect(document.paths['/v1/runs'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/RunRequest' });
    expect(document.paths['/v1/runs'].get.parameters.map((parameter: { name: string }) => parameter.name)).toEqual(['project_name', 'status', 'limit', 'cursor']);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/runs/{run_id}', '/v1/runs/{run_id}/cancel', '/v1/projects', '/healthz', '/metrics']));
  });
});

// Last: it makes more runs, which the counts above do not expect.
describe('warm pool counters', () => {
  it('a later run of the same model, once its container is parked, counts as a hit; every run counts once', async () => {
    const counter = (metrics: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1]);
    let runs = 1; // the one made before all tests
    let metrics = '';
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 1000)); // the pool starts the next container after a run
      const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'demo', model_name: 'revenue' });
      expect(run.body.status, run.text).toBe('success');
      runs += 1;
      metrics = (await call('GET', '/metrics')).text;
      if (counter(metrics, 'sandrun_pool_hits_total') >= 1) break;
    }
    expect(counter(metrics, 'sandrun_pool_hits_total'), metrics).toBeGreaterThanOrEqual(1);
    expect(counter(metrics, 'sandrun_pool_hits_total') + counter(metrics, 'sandrun_pool_misses_total')).toBe(runs);
  });
});
