// A project on an allowed image without a shell runs through the API like any other: same result, same contract.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ARTIFACT_PROJECT_FILES, EXPECTED_ARTIFACTS, sha256 } from '../helpers/artifact-files.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { buildNoShellImage, removeImage } from '../helpers/no-shell-image.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let image: string;
let server: TestServer;
let repo: TestRepo;
let token: string;

beforeAll(async () => {
  image = buildNoShellImage('distroless-like');
  server = await startTestServer({ SANDRUN_IMAGES: `sandrun/python:3.11,${image}` });
  token = await server.token('shell-free-tenant');
  repo = new TestRepo({
    'sandrun.yaml': `image: ${image}\nmodels:\n  square:\n    command: ["python3", "square.py"]\n  charts:\n    command: ["python3", "models/charts.py"]\n`,
    ...ARTIFACT_PROJECT_FILES,
    'square.py': [
      'import json, os, shutil',
      'n = json.load(open(os.environ["SANDRUN_PARAMETERS"]))["n"]',
      'json.dump({"square": n * n, "shell": shutil.which("sh")}, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "result.json"), "w"))',
      'print("squared", n, "in run", os.environ["SANDRUN_RUN_ID"])',
      '',
    ].join('\n'),
  });
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'shell-free', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}, 120_000);

afterAll(async () => {
  await server?.close();
  repo?.remove();
  if (image) removeImage(image);
});

it('runs a model on it, twice, with its parameters, identity, stdout and outputs', async () => {
  for (const n of [3, 12]) {
    const { status, body } = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'shell-free', model_name: 'square', parameters: { n } });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.status, JSON.stringify(body.error ?? body.stderr)).toBe('success');
    expect(body.exit_code).toBe(0);
    expect(body.stdout).toBe(`squared ${n} in run ${body.run_id}\n`);
    expect(body.outputs).toEqual({ result: { square: n * n, shell: null } });
  }
}, 60_000);

it('keeps its files under /outputs as artifacts too (the direct path reads them with its helper)', async () => {
  const { body } = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'shell-free', model_name: 'charts' });
  expect(body.status, JSON.stringify(body.error ?? body.stderr)).toBe('success');
  expect(body.artifacts.map((artifact: { path: string; sha256: string }) => [artifact.path, artifact.sha256])).toEqual(
    Object.entries(EXPECTED_ARTIFACTS).map(([path, bytes]) => [path, sha256(bytes)]),
  );
  const png = await fetch(`${server.url}/v1/runs/${body.run_id}/artifacts/chart.png`, { headers: { authorization: `Bearer ${token}` } });
  expect(Buffer.from(await png.arrayBuffer()).equals(EXPECTED_ARTIFACTS['chart.png']!)).toBe(true);
}, 60_000);
