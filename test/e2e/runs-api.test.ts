// The run API over real HTTP (SPEC §1, §2, §5), on every backend (backends.ts): the seed's examples, validation, branches and commits, numbering, cancel.
import Dockerode from 'dockerode';
import { get as httpGet } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendServerEnv, eachBackend, runLeftovers } from '../helpers/backends.ts';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

await eachBackend('runs-api', (kind) => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  const SYNC_FIELDS: Record<string, string> = {
    run_id: 'string',
    run_number: 'number',
    project: 'string',
    scope: 'string',
    branch: 'object',
    commit_sha: 'string',
    status: 'string',
    exit_code: 'number',
    stdout: 'string',
    stderr: 'string',
    stdout_truncated: 'boolean',
    stderr_truncated: 'boolean',
    outputs: 'object',
    duration_seconds: 'number',
    data_snapshot_ref: 'string',
    error: 'object',
    created_at: 'string',
    started_at: 'string',
    finished_at: 'string',
  };
  const ASYNC_FIELDS = ['run_id', 'run_number', 'status', 'project_name', 'model_name', 'commit_sha', 'message', 'warning'];

  beforeAll(async () => {
    server = await startTestServer({ ...(await backendServerEnv(kind)), SANDRUN_MAX_CONCURRENT_RUNS: '4' });
    token = await server.token('acme-tenant');
    repo = new TestRepo(DEMO_FILES);
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'acme', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server.close();
    repo.remove();
  });

  const submit = (body: unknown) => server.request(token, 'POST', '/v1/runs', body);

  const pollTerminal = (runId: string) => server.waitForRun(token, runId);

  function expectSyncShape(body: any): void {
    for (const [field, type] of Object.entries(SYNC_FIELDS)) {
      expect(body, `field ${field}`).toHaveProperty(field);
      if (body[field] !== null) expect(typeof body[field], `type of ${field}`).toBe(type);
    }
    expect(body.commit_sha).toMatch(/^[0-9a-f]{40}$/);
  }

  describe("the seed's worked examples over REST", () => {
    it('1) project + sync runs every model and returns terminal fields inline', async () => {
      const { status, body } = await submit({ scope: 'project', mode: 'sync', project_name: 'acme' });
      expect(status).toBe(200);
      expectSyncShape(body);
      expect(body).toMatchObject({ project: 'acme', scope: 'project', model_name: null, branch: null, status: 'success', exit_code: 0, error: null });
      expect(body.outputs).toEqual({ revenue: [100, 110, 121], summary: { model: '(project)', parameters: {} } });
      expect(body.stdout).toContain('summary written');
    });

    it('2) model + sync with parameters delivers them and returns outputs', async () => {
      const { status, body } = await submit({ scope: 'model', mode: 'sync', project_name: 'acme', model_name: 'revenue', parameters: { growth_rate: 0.5 } });
      expect(status).toBe(200);
      expectSyncShape(body);
      expect(body).toMatchObject({ status: 'success', model_name: 'revenue', outputs: { revenue: [100, 150, 225] } });
      expect(body.duration_seconds).toBeGreaterThan(0);
    });

    it('3) project + async returns the queued-run fields, then get_run reaches success', async () => {
      const { status, body } = await submit({ scope: 'project', mode: 'async', project_name: 'acme' });
      expect(status).toBe(202);
      expect(Object.keys(body).sort()).toEqual([...ASYNC_FIELDS].sort());
      expect(body).toMatchObject({ status: 'pending', project_name: 'acme', model_name: null, warning: null });
      expect(body.commit_sha).toMatch(/^[0-9a-f]{40}$/);
      expect(body.message).toContain(body.run_id);
      const finished = await pollTerminal(body.run_id);
      expectSyncShape(finished);
      expect(finished.status).toBe('success');
      expect(finished.run_number).toBe(body.run_number);
    });

    it('4) model + async returns the queued-run fields naming the model', async () => {
      const { status, body } = await submit({ scope: 'model', mode: 'async', project_name: 'acme', model_name: 'revenue' });
      expect(status).toBe(202);
      expect(body).toMatchObject({ status: 'pending', model_name: 'revenue' });
      expect((await pollTerminal(body.run_id)).outputs).toEqual({ revenue: [100, 110, 121] });
    });
  });

  describe('bad requests name the field and the rule', () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['model scope without model_name', { scope: 'model', mode: 'sync', project_name: 'acme' }, 400, /model_name is required when scope='model'/],
      ['project scope with a model_name', { scope: 'project', mode: 'sync', project_name: 'acme', model_name: 'revenue' }, 400, /model_name must be absent or null when scope='project'/],
      ['a bad mode', { scope: 'project', mode: 'later', project_name: 'acme' }, 400, /mode must be 'sync' or 'async'/],
      ['a non-object parameters', { scope: 'project', mode: 'sync', project_name: 'acme', parameters: [1, 2] }, 400, /parameters must be a JSON object or null/],
      ['an unknown field', { scope: 'project', mode: 'sync', project_name: 'acme', colour: 'red' }, 400, /unknown field 'colour'/],
      ['a wrong type', { scope: 'project', mode: 'sync', project_name: 42 }, 400, /project_name/],
      ['a short commit_sha', { scope: 'project', mode: 'sync', project_name: 'acme', commit_sha: 'abc' }, 400, /commit_sha must be 7 to 40 hexadecimal characters/],
      ['an unknown project', { scope: 'project', mode: 'sync', project_name: 'nope' }, 404, /project 'nope' not found/],
      ['an unknown model, listing the models', { scope: 'model', mode: 'sync', project_name: 'acme', model_name: 'costs' }, 404, /revenue, summary/],
    ];
    for (const [name, body, status, message] of cases) {
      it(name, async () => {
        const response = await submit(body);
        expect(response.status, JSON.stringify(response.body)).toBe(status);
        expect(response.body.error.message).toMatch(message);
      });
    }

    it('parameters over 1 MiB of JSON: 413', async () => {
      const response = await submit({ scope: 'project', mode: 'async', project_name: 'acme', parameters: { blob: 'x'.repeat(1024 * 1024 + 10) } });
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('payload_too_large');
    });

    it('a body that is not JSON: 400', async () => {
      const response = await server.request(token, 'POST', '/v1/runs', '{"scope": ');
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(/not valid JSON/);
    });

    it('a broken sandrun.yaml gives a clear error with the line', async () => {
      const broken = new TestRepo({ 'sandrun.yaml': 'image: sandrun/python:3.11\nmodels:\n  a:\n    command: "python a.py"\n', 'a.py': 'print(1)\n' });
      try {
        const created = await server.request(token, 'POST', '/v1/projects', { name: 'broken', repo_url: broken.dir });
        expect(created.status).toBe(201);
        expect(created.body.manifest_error.message).toMatch(/sandrun\.yaml line 4: models\.a\.command/);
        const run = await submit({ scope: 'model', mode: 'sync', project_name: 'broken', model_name: 'a' });
        expect(run.status).toBe(422);
        expect(run.body.error).toMatchObject({ code: 'manifest_invalid' });
        expect(run.body.error.message).toMatch(/sandrun\.yaml line 4: models\.a\.command: expected an array of strings/);
      } finally {
        broken.remove();
      }
    });
  });

  describe('branches, commits and numbering', () => {
    it('branch and commit_sha run the code of that branch and commit', async () => {
      const code = new TestRepo({ 'models/which.py': 'print("main v1")\n' });
      try {
        const v1 = code.head();
        code.commit({ 'models/which.py': 'print("main v2")\n' });
        code.checkout('feature', true);
        const feature = code.commit({ 'models/which.py': 'print("feature")\n' });
        code.checkout('main');
        expect((await server.request(token, 'POST', '/v1/projects', { name: 'branches', repo_url: code.dir })).status).toBe(201);
        const run = async (extra: object) =>
          (await submit({ scope: 'model', mode: 'sync', project_name: 'branches', model_name: 'which', ...extra })).body;
        expect((await run({})).stdout).toBe('main v2\n');
        const onFeature = await run({ branch: 'feature' });
        expect(onFeature.stdout).toBe('feature\n');
        expect(onFeature.branch).toBe('feature');
        expect(onFeature.commit_sha).toBe(feature);
        const atV1 = await run({ commit_sha: v1.slice(0, 8) });
        expect(atV1.stdout).toBe('main v1\n');
        expect(atV1.commit_sha).toBe(v1);
        const mismatch = await submit({ scope: 'model', mode: 'async', project_name: 'branches', model_name: 'which', branch: 'main', commit_sha: feature });
        expect(mismatch.status).toBe(202);
        expect(mismatch.body.warning).toMatch(/not on branch 'main'|not reachable from|is not on/);
        expect((await pollTerminal(mismatch.body.run_id)).stdout).toBe('feature\n');
        const unknown = await submit({ scope: 'model', mode: 'sync', project_name: 'branches', model_name: 'which', branch: 'nope' });
        expect(unknown.status).toBe(404);
      } finally {
        code.remove();
      }
    });

    it('20 concurrent async runs on one project all finish, numbered 1..20', async () => {
      const numbered = new TestRepo({ 'models/quick.py': 'print("quick")\n' });
      try {
        expect((await server.request(token, 'POST', '/v1/projects', { name: 'numbered', repo_url: numbered.dir })).status).toBe(201);
        const submissions = await Promise.all(
          Array.from({ length: 20 }, () => submit({ scope: 'model', mode: 'async', project_name: 'numbered', model_name: 'quick' })),
        );
        expect(submissions.map((s) => s.status)).toEqual(Array(20).fill(202));
        const numbers = submissions.map((s) => s.body.run_number).sort((a, b) => a - b);
        expect(numbers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        // One poll at a time, 4 a second: 20 pollers at once would spend the token's rate limit, and the listing below get 429.
        const finished = [];
        for (const submission of submissions) finished.push(await server.waitForRun(token, submission.body.run_id, { intervalMs: 250 }));
        expect(finished.map((run) => run.status)).toEqual(Array(20).fill('success'));
        const listed = await server.request(token, 'GET', '/v1/runs?project_name=numbered&limit=15');
        expect(listed.body.runs).toHaveLength(15);
        expect(listed.body.runs[0].run_number).toBe(20);
        const rest = await server.request(token, 'GET', `/v1/runs?project_name=numbered&limit=15&cursor=${listed.body.next_cursor}`);
        expect(rest.body.runs.map((run: any) => run.run_number)).toEqual([5, 4, 3, 2, 1]);
        expect(rest.body.next_cursor).toBeNull();
      } finally {
        numbered.remove();
      }
    });

    it('cancelling a running sleep ends it as cancelled at once (not after its 300 s), and its container is gone', async () => {
      const sleepy = new TestRepo({ 'models/sleepy.py': 'import time\nprint("sleeping", flush=True)\ntime.sleep(300)\n' });
      try {
        expect((await server.request(token, 'POST', '/v1/projects', { name: 'sleepy', repo_url: sleepy.dir })).status).toBe(201);
        const { body } = await submit({ scope: 'model', mode: 'async', project_name: 'sleepy', model_name: 'sleepy' });
        await server.waitForRun(token, body.run_id, { until: ['running'] });
        const started = Date.now();
        const cancelled = await server.request(token, 'POST', `/v1/runs/${body.run_id}/cancel`);
        // Prompt, not to the millisecond: the run's own sleep is 300 s; a slow machine may take a few seconds to kill and remove.
        expect((Date.now() - started) / 1000).toBeLessThan(15);
        expect(cancelled.status).toBe(200);
        expect(cancelled.body).toMatchObject({ status: 'cancelled', error: { code: 'cancelled' } });
        expect(await runLeftovers(kind, body.run_id)).toEqual([]);
        const again = await server.request(token, 'POST', `/v1/runs/${body.run_id}/cancel`);
        expect(again.status).toBe(409);
      } finally {
        sleepy.remove();
      }
    });

    // Declared for Docker only, not skipped on the swarm: the swarm has no warm pool (swarm-backend.ts).
    if (kind === 'docker') it('a project refresh removes the containers parked ahead for it', async () => {
      const warmed = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
      // A tenant of its own: the pool's share of the tenant the other tests use may be taken by their parked containers.
      const own = await server.token('warm-tenant');
      const docker = new Dockerode();
      const parked = () => docker.listContainers({ all: true, filters: { label: ['sandrun.project=warmed', 'sandrun.tenant=warm-tenant'], name: ['sandrun-pool-'] } });
      try {
        expect((await server.request(own, 'POST', '/v1/projects', { name: 'warmed', repo_url: warmed.dir })).status).toBe(201);
        const { body } = await server.request(own, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'warmed', model_name: 'hello' });
        expect(body.status).toBe('success');
        // The run parks one ahead for the next run of its kind.
        for (let i = 0; i < 100 && !(await parked()).some((container) => container.State === 'running'); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
        expect((await parked()).length).toBeGreaterThanOrEqual(1);
        await new Promise((resolve) => setTimeout(resolve, 500)); // let the pool take in what it has started
        expect((await server.request(own, 'POST', '/v1/projects/warmed/refresh')).status).toBe(200);
        expect(await parked()).toEqual([]);
      } finally {
        warmed.remove();
      }
    });

    it('streams live logs as Server-Sent Events ending with the terminal status', async () => {
      const { body } = await submit({ scope: 'model', mode: 'async', project_name: 'acme', model_name: 'revenue' });
      const response = await fetch(`${server.url}/v1/runs/${body.run_id}/logs?follow=1`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
      const text = await response.text();
      expect(text).toContain('event: stdout');
      expect(text).toContain('revenue at growth 0.1');
      const end = text.split('\n\n').find((event) => event.startsWith('event: end'))!;
      expect(JSON.parse(end.replace(/^event: end\ndata: /, '')).status).toBe('success');
    });
  });

  describe('polling a run', () => {
    it('answers the same whichever way the server takes (its fast path, or express for anything unusual), and 304 for an unchanged run', async () => {
      const { body: run } = await submit({ scope: 'model', mode: 'sync', project_name: 'acme', model_name: 'revenue' });
      const get = (suffix: string, headers: Record<string, string> = {}) =>
        fetch(`${server.url}/v1/runs/${run.run_id}${suffix}`, { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'poll-test', ...headers } });
      const fast = await get('');
      const viaExpress = await get('?');
      for (const response of [fast, viaExpress]) {
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
        expect(response.headers.get('x-request-id')).toBe('poll-test');
      }
      const fastText = await fast.text();
      expect(fastText).toBe(await viaExpress.text());
      expect(JSON.parse(fastText)).toMatchObject({ run_id: run.run_id, status: 'success' });
      expect(fast.headers.get('etag')).toMatch(/^W\/"/);
      expect(fast.headers.get('etag')).toBe(viaExpress.headers.get('etag'));
      // node:http, not fetch: fetch adds Cache-Control: no-cache to a conditional request, which rules out a 304.
      const conditional = await new Promise<number>((resolve, reject) => {
        httpGet(`${server.url}/v1/runs/${run.run_id}`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': fast.headers.get('etag')! } }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject);
      });
      expect(conditional).toBe(304);
    });
  });
});
