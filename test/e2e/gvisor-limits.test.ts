// Under gVisor a run's pids limit must mean the run's processes: a limit the runtime cannot start a run with is a clear 422, never an internal error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { runtimeAvailable } from '../helpers/sandbox.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let server: TestServer;
let repo: TestRepo;
let token: string;

beforeAll(async () => {
  // The test command registers runsc (scripts/engine.sh): its absence is a broken machine, not a reason to skip.
  expect(await runtimeAvailable('runsc'), 'the engine has the runsc runtime').toBe(true);
  server = await startTestServer({ SANDRUN_RUNTIME: 'runsc' });
  token = await server.token(`gvisor-${process.pid}`);
  repo = new TestRepo({
    'sandrun.yaml': [
      'image: sandrun/python:3.11',
      'models:',
      '  few:',
      '    command: ["python3", "-c", "print(\'few\')"]',
      '    pids: 64',
      '  enough:',
      '    command: ["python3", "-c", "print(\'enough\')"]',
      '    pids: 128',
      '',
    ].join('\n'),
  });
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'gvisor', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
});

afterAll(async () => {
  await server?.close();
  repo?.remove();
});

describe('pids under gVisor', () => {
  it("a model asking for 64 pids (which the sandbox's own threads would use up) is refused with 422 manifest_invalid naming the limit; nothing is run", async () => {
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'gvisor', model_name: 'few' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('manifest_invalid');
    expect(answer.body.error.message).toMatch(/pids 64 is below 128/);
    const listed = await server.request(token, 'GET', '/v1/runs?project_name=gvisor');
    expect(listed.body.runs).toEqual([]);
  });

  it('a model asking for 128 pids runs', async () => {
    const answer = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'gvisor', model_name: 'enough' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body, JSON.stringify({ exit: answer.body.exit_code, error: answer.body.error, stderr: answer.body.stderr })).toMatchObject({ status: 'success', stdout: 'enough\n' });
  });
});
