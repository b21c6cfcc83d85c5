// Tenant isolation over real HTTP: another tenant's projects, runs, logs and tokens are 404, lists never mix, and the database holds no token secret.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { ALL_SCOPES, startTestServer, type TestServer } from '../helpers/server.ts';

interface TenantFixture {
  token: string;
  adminToken: string;
  adminTokenId: string;
  project: string;
  runId: string;
  repo: TestRepo;
}

let server: TestServer;
let a: TenantFixture;
let b: TenantFixture;
const secrets: string[] = [];

/** The demo project plus a model that sleeps, so that a run can be caught while it is running. */
const FILES_WITH_SLOW_MODEL = {
  ...DEMO_FILES,
  'sandrun.yaml': DEMO_FILES['sandrun.yaml']!.replace('models:\n', 'models:\n  slow:\n    command: ["python", "-c", "import time; time.sleep(60)"]\n'),
};

async function setUpTenant(tenant: string, project: string): Promise<TenantFixture> {
  const token = await server.token(tenant, ALL_SCOPES);
  const admin = await server.sandrun.apiTokens.create({ tenantId: tenant, scopes: ['admin'], name: 'admin' });
  const repo = new TestRepo(FILES_WITH_SLOW_MODEL);
  const created = await server.request(token, 'POST', '/v1/projects', { name: project, repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: project, model_name: 'revenue', parameters: { growth_rate: 0.5 } });
  expect(run.status, JSON.stringify(run.body)).toBe(200);
  expect(run.body.status, run.body.stderr).toBe('success');
  secrets.push(token, admin.token);
  return { token, adminToken: admin.token, adminTokenId: admin.record.id, project, runId: run.body.run_id, repo };
}

beforeAll(async () => {
  server = await startTestServer();
  [a, b] = await Promise.all([setUpTenant('tenant-a', 'alpha'), setUpTenant('tenant-b', 'beta')]);
});
afterAll(async () => {
  await server?.close();
  a?.repo.remove();
  b?.repo.remove();
});

/** The 404 a caller gets for something that does not exist at all, with the id swapped in, to compare with. */
const MISSING_RUN = '00000000-0000-4000-8000-000000000000';

describe("tenant B against tenant A's things", () => {
  const cases: Array<[string, () => { method: string; path: string; body?: unknown; missing: { path: string; body?: unknown } }]> = [
    ['GET run', () => ({ method: 'GET', path: `/v1/runs/${a.runId}`, missing: { path: `/v1/runs/${MISSING_RUN}` } })],
    ['cancel run', () => ({ method: 'POST', path: `/v1/runs/${a.runId}/cancel`, missing: { path: `/v1/runs/${MISSING_RUN}/cancel` } })],
    ['run logs', () => ({ method: 'GET', path: `/v1/runs/${a.runId}/logs`, missing: { path: `/v1/runs/${MISSING_RUN}/logs` } })],
    ['follow run logs', () => ({ method: 'GET', path: `/v1/runs/${a.runId}/logs?follow=1`, missing: { path: `/v1/runs/${MISSING_RUN}/logs?follow=1` } })],
    ['GET project', () => ({ method: 'GET', path: `/v1/projects/${a.project}`, missing: { path: '/v1/projects/no-such-project' } })],
    ['refresh project', () => ({ method: 'POST', path: `/v1/projects/${a.project}/refresh`, missing: { path: '/v1/projects/no-such-project/refresh' } })],
    ['DELETE project', () => ({ method: 'DELETE', path: `/v1/projects/${a.project}`, missing: { path: '/v1/projects/no-such-project' } })],
    [
      "POST /v1/runs naming A's project",
      () => ({
        method: 'POST',
        path: '/v1/runs',
        body: { scope: 'model', mode: 'sync', project_name: a.project, model_name: 'revenue' },
        missing: { path: '/v1/runs', body: { scope: 'model', mode: 'sync', project_name: 'no-such-project', model_name: 'revenue' } },
      }),
    ],
  ];

  for (const [name, build] of cases) {
    it(`${name} answers 404, exactly like something that does not exist`, async () => {
      const { method, path, body, missing } = build();
      const response = await server.request(b.token, method, path, body);
      expect(response.status, JSON.stringify(response.body)).toBe(404);
      expect(response.body.error.code).toBe('not_found');
      const absent = await server.request(b.token, method, missing.path, missing.body);
      expect(absent.status).toBe(404);
      const normalise = (message: string) => message.replaceAll(a.runId, '<id>').replaceAll(MISSING_RUN, '<id>').replaceAll(a.project, '<name>').replaceAll('no-such-project', '<name>');
      expect(normalise(response.body.error.message)).toBe(normalise(absent.body.error.message));
    });
  }

  it("a running run of A: B's cancel and live logs are 404, and it keeps running until A cancels it", async () => {
    const submitted = await server.request(a.token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: a.project, model_name: 'slow' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const runId = submitted.body.run_id;
    try {
      expect((await server.request(b.token, 'POST', `/v1/runs/${runId}/cancel`)).status).toBe(404);
      expect((await server.request(b.token, 'GET', `/v1/runs/${runId}/logs?follow=1`)).status).toBe(404);
      expect((await server.request(b.token, 'GET', `/v1/runs/${runId}`)).status).toBe(404);
      expect(['pending', 'running']).toContain((await server.request(a.token, 'GET', `/v1/runs/${runId}`)).body.status);
    } finally {
      const cancelled = await server.request(a.token, 'POST', `/v1/runs/${runId}/cancel`);
      expect(cancelled.body.status, JSON.stringify(cancelled.body)).toBe('cancelled');
    }
  });

  it("B's admin cannot revoke A's token (404) and A's token still works", async () => {
    const response = await server.request(b.adminToken, 'DELETE', `/v1/tokens/${a.adminTokenId}`);
    expect(response.status).toBe(404);
    expect((await server.request(a.adminToken, 'GET', '/v1/tokens')).status).toBe(200);
  });

  it("after all of that, A's project and run are untouched", async () => {
    const project = await server.request(a.token, 'GET', `/v1/projects/${a.project}`);
    expect(project.status).toBe(200);
    expect(project.body.models).toEqual(['slow', 'revenue', 'summary']);
    const run = await server.request(a.token, 'GET', `/v1/runs/${a.runId}`);
    expect(run.body.status).toBe('success');
    expect(run.body.outputs.revenue).toEqual([100, 150, 225]);
  });
});

describe('lists', () => {
  it("never include the other tenant's rows", async () => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const projects = await server.request(self.token, 'GET', '/v1/projects');
      expect(projects.body.projects.map((p: any) => p.name)).toEqual([self.project]);
      const runs = await server.request(self.token, 'GET', '/v1/runs');
      const runIds = runs.body.runs.map((r: any) => r.run_id);
      expect(runIds).toContain(self.runId);
      expect(runIds).not.toContain(other.runId);
      expect(runs.body.runs.every((r: any) => r.project === self.project)).toBe(true);
      const filtered = await server.request(self.token, 'GET', `/v1/runs?project_name=${other.project}`);
      expect(filtered.status).toBe(200);
      expect(filtered.body.runs).toEqual([]);
      const tokens = await server.request(self.adminToken, 'GET', '/v1/tokens');
      const tenants = new Set(tokens.body.tokens.map((t: any) => t.tenant));
      expect([...tenants]).toEqual([self === a ? 'tenant-a' : 'tenant-b']);
    }
  });
});

describe('the database', () => {
  it('holds no token secret, only its SHA-256 (main file and WAL, read as bytes)', async () => {
    const created = await server.request(a.adminToken, 'POST', '/v1/tokens', { scopes: ['runs:read'], name: 'via-rest' });
    expect(created.status).toBe(201);
    secrets.push(created.body.token);
    const files = ['sandrun.db', 'sandrun.db-wal', 'sandrun.db-shm'].map((name) => join(server.dataDir, name)).filter(existsSync);
    expect(files.length).toBeGreaterThan(0);
    const bytes = Buffer.concat(files.map((file) => readFileSync(file)));
    for (const secret of secrets) {
      expect(bytes.includes(Buffer.from(secret)), `the token ${secret.slice(0, 6)}... is stored in clear`).toBe(false);
      // Sanity check that these are the files the tokens live in: their hashes are there.
      const hash = createHash('sha256').update(secret).digest('hex');
      expect(bytes.includes(Buffer.from(hash)), `the hash of ${secret.slice(0, 6)}... is not in ${files.join(', ')}`).toBe(true);
    }
  });
});
