// Reproducibility (SPEC §12): data_snapshot_ref recorded at a run's start, POST /v1/runs/{id}/replay, replay_of and
// outputs_match, and `sandrun runs replay --wait`, against a real server, engine and git repository (Docker backend).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'models:',
    '  revenue:',
    '    command: ["python", "models/revenue.py"]',
    '  clock:',
    '    command: ["python", "models/clock.py"]',
    '  report:',
    '    command: ["python", "models/report.py"]',
    '  wait:',
    '    command: ["python", "-c", "import time; time.sleep(120)"]',
    '',
  ].join('\n'),
  'models/revenue.py': [
    'import json, os',
    'params = json.load(open(os.environ["SANDRUN_PARAMETERS"]))',
    'rate = float(params.get("growth_rate", 0.1))',
    'json.dump([round(100 * (1 + rate) ** y, 2) for y in range(3)], open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "revenue.json"), "w"))',
    '',
  ].join('\n'),
  // Not deterministic: the time goes into its outputs.
  'models/clock.py': [
    'import json, os, time',
    'json.dump({"ns": time.time_ns()}, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "now.json"), "w"))',
    '',
  ].join('\n'),
  // Its one output is the same every time; the report file beside it holds the time.
  'models/report.py': [
    'import json, os, time',
    'out = os.environ["SANDRUN_OUTPUTS"]',
    'json.dump({"rows": 3}, open(os.path.join(out, "result.json"), "w"))',
    'os.makedirs(os.path.join(out, "reports"))',
    'open(os.path.join(out, "reports", "report.txt"), "w").write("made at %d\\n" % time.time_ns())',
    '',
  ].join('\n'),
};

const ASYNC_FIELDS = ['run_id', 'run_number', 'status', 'project_name', 'model_name', 'commit_sha', 'message', 'warning'];

describe('replay and data_snapshot_ref', () => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;
  const tenant = `replay-${process.pid}`;

  beforeAll(async () => {
    // An allowed image that is not on the engine: a run of it never starts (image_unavailable).
    server = await startTestServer({ SANDRUN_MAX_CONCURRENT_RUNS: '4', SANDRUN_IMAGES: 'sandrun/python:3.11,sandrun/not-built-here:0' });
    token = await server.token(tenant);
    repo = new TestRepo(FILES);
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'repro', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  const runModel = async (model: string, parameters: Record<string, unknown> = {}, project = 'repro') => {
    const response = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: project, model_name: model, parameters });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body;
  };
  const replay = (runId: string, as = token) => server.request(as, 'POST', `/v1/runs/${runId}/replay`);

  it('a replay of a deterministic model has the same ref and outputs_match: true; the original is not a replay', async () => {
    const original = await runModel('revenue', { growth_rate: 0.5, nested: { b: 1, a: [1, 2] } });
    expect(original.status, original.stderr).toBe('success');
    expect(original.data_snapshot_ref, 'a started run has a ref').toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(original.image_id, 'the image is recorded by ID, not tag').toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(original).toMatchObject({ replay_of: null, outputs_match: null });

    const answer = await replay(original.run_id);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(Object.keys(answer.body).sort(), 'answered as an async run request is').toEqual([...ASYNC_FIELDS].sort());
    expect(answer.body).toMatchObject({ status: 'pending', project_name: 'repro', model_name: 'revenue', commit_sha: original.commit_sha });
    expect(answer.body.run_id).not.toBe(original.run_id);

    const replayed = await server.waitForRun(token, answer.body.run_id);
    expect(replayed.status, replayed.stderr).toBe('success');
    expect(replayed).toMatchObject({ replay_of: original.run_id, outputs_match: true, branch: null, commit_sha: original.commit_sha, outputs: original.outputs });
    expect(replayed.data_snapshot_ref, 'same inputs, same ref').toBe(original.data_snapshot_ref);
    expect(replayed.image_id).toBe(original.image_id);

    const again = (await server.request(token, 'GET', `/v1/runs/${original.run_id}`)).body;
    expect(again, 'replaying a run changes nothing of the original').toMatchObject({ replay_of: null, outputs_match: null, data_snapshot_ref: original.data_snapshot_ref });
  });

  it('a replay of a model that writes the time into its outputs: refs equal, outputs_match: false', async () => {
    const original = await runModel('clock');
    expect(original.status, original.stderr).toBe('success');
    const answer = await replay(original.run_id);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const replayed = await server.waitForRun(token, answer.body.run_id);
    expect(replayed.status, replayed.stderr).toBe('success');
    expect(replayed.outputs.now.ns, 'the clock moved').not.toBe(original.outputs.now.ns);
    expect(replayed).toMatchObject({ replay_of: original.run_id, outputs_match: false });
    expect(replayed.data_snapshot_ref, 'the same inputs: the time is not one the ref can cover').toBe(original.data_snapshot_ref);
  });

  it('a replay whose outputs match but whose other file differs: outputs_match: false', async () => {
    const original = await runModel('report');
    expect(original.status, original.stderr).toBe('success');
    expect(original.artifacts.map((artifact: { path: string }) => artifact.path)).toEqual(['reports/report.txt', 'result.json']);
    const answer = await replay(original.run_id);
    const replayed = await server.waitForRun(token, answer.body.run_id);
    expect(replayed.outputs, 'the same outputs').toEqual(original.outputs);
    expect(replayed.artifacts[0].sha256, 'the report differs').not.toBe(original.artifacts[0].sha256);
    expect(replayed).toMatchObject({ replay_of: original.run_id, outputs_match: false });
  });

  it('a run with other parameters, or of another model, has another ref', async () => {
    const one = await runModel('revenue', { growth_rate: 0.25 });
    const same = await runModel('revenue', { growth_rate: 0.25 });
    const other = await runModel('revenue', { growth_rate: 0.3 });
    const model = await runModel('clock', { growth_rate: 0.25 });
    expect(same.data_snapshot_ref, 'same inputs submitted anew').toBe(one.data_snapshot_ref);
    expect(other.data_snapshot_ref, 'other parameters').not.toBe(one.data_snapshot_ref);
    expect(model.data_snapshot_ref, 'another model').not.toBe(one.data_snapshot_ref);
  });

  it('a replay runs the original commit after the default branch moved', async () => {
    const original = await runModel('revenue', { growth_rate: 0.1 });
    const moved = repo.commit({ 'models/revenue.py': FILES['models/revenue.py']!.replace('100 *', '200 *') }, 'double the base');
    const refreshed = await server.request(token, 'POST', '/v1/projects/repro/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const now = await runModel('revenue', { growth_rate: 0.1 });
    expect(now.commit_sha, 'the branch moved').toBe(moved);
    expect(now.data_snapshot_ref, 'another commit, another ref').not.toBe(original.data_snapshot_ref);

    const answer = await replay(original.run_id);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    expect(answer.body.commit_sha).toBe(original.commit_sha);
    const replayed = await server.waitForRun(token, answer.body.run_id);
    expect(replayed).toMatchObject({ status: 'success', commit_sha: original.commit_sha, outputs_match: true, data_snapshot_ref: original.data_snapshot_ref });
  });

  it("another tenant's run is 404 to replay, as if it did not exist", async () => {
    const original = await runModel('revenue');
    const stranger = await server.token(`${tenant}-other`);
    const answer = await replay(original.run_id, stranger);
    expect(answer.status, JSON.stringify(answer.body)).toBe(404);
    expect(answer.body.error.code).toBe('not_found');
    expect((await replay('no-such-run')).status).toBe(404);
  });

  it('a replay needs runs:write', async () => {
    const original = await runModel('revenue');
    const reader = await server.token(tenant, ['runs:read']);
    const answer = await replay(original.run_id, reader);
    expect(answer.status, JSON.stringify(answer.body)).toBe(403);
  });

  it('a run that has not finished is 409 to replay, naming its status', async () => {
    const submitted = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'repro', model_name: 'wait' });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    try {
      const answer = await replay(submitted.body.run_id);
      expect(answer.status, JSON.stringify(answer.body)).toBe(409);
      expect(answer.body.error.message).toMatch(/is (pending|running); only a finished run can be replayed/);
    } finally {
      await server.request(token, 'POST', `/v1/runs/${submitted.body.run_id}/cancel`);
    }
  });

  it('a run that never started has no ref and is 409 to replay (image_unavailable)', async () => {
    const broken = new TestRepo({ 'sandrun.yaml': 'image: sandrun/not-built-here:0\nmodels:\n  a:\n    command: ["python", "a.py"]\n', 'a.py': 'print(1)\n' });
    try {
      const created = await server.request(token, 'POST', '/v1/projects', { name: 'no-image', repo_url: broken.dir });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const run = await runModel('a', {}, 'no-image');
      expect(run.status).toBe('error');
      expect(run.error?.code).toBe('image_unavailable');
      expect(run).toMatchObject({ started_at: null, data_snapshot_ref: null, image_id: null });
      const answer = await replay(run.run_id);
      expect(answer.status, JSON.stringify(answer.body)).toBe(409);
      expect(answer.body.error.message).toMatch(/never started \(error: image_unavailable\)/);
    } finally {
      broken.remove();
    }
  });

  it('a pending run has no ref yet', async () => {
    // Not yet started (pending) or started (running): the ref is null exactly until the start.
    const submitted = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'repro', model_name: 'wait' });
    try {
      const seen = (await server.request(token, 'GET', `/v1/runs/${submitted.body.run_id}`)).body;
      if (seen.status === 'pending') expect(seen.data_snapshot_ref).toBeNull();
      const running = await server.waitForRun(token, submitted.body.run_id, { until: ['running'] });
      expect(running.data_snapshot_ref, 'recorded when the run starts').toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await server.request(token, 'POST', `/v1/runs/${submitted.body.run_id}/cancel`);
    }
  });

  it('`sandrun runs replay RUN --wait` prints the result with replay_of and outputs_match', async () => {
    const original = await runModel('revenue', { growth_rate: 0.7 });
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const env = { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, NO_COLOR: '1' };
        execFile(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
        });
      });

    const waited = await cli(['runs', 'replay', original.run_id, '--wait', '--json']);
    expect(waited.code, `${waited.stdout}\n${waited.stderr}`).toBe(0);
    const result = JSON.parse(waited.stdout);
    expect(result).toMatchObject({ status: 'success', replay_of: original.run_id, outputs_match: true, data_snapshot_ref: original.data_snapshot_ref });

    const shown = await cli(['runs', 'replay', original.run_id, '--wait']);
    expect(shown.code, `${shown.stdout}\n${shown.stderr}`).toBe(0);
    expect(shown.stdout).toContain(`replay of: ${original.run_id} (outputs match)`);
    expect(shown.stdout).toContain(`snapshot:  ${original.data_snapshot_ref}`);

    const queued = await cli(['runs', 'replay', original.run_id]);
    expect(queued.code, `${queued.stdout}\n${queued.stderr}`).toBe(0);
    expect(queued.stdout).toMatch(/is pending/);
  });
});
