// SPEC §11 at submission: a project's network.allow is granted only where SANDRUN_EGRESS_ALLOW covers it, else a 422 naming what is not; nothing is run or recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { backendServerEnv, eachBackend } from '../helpers/backends.ts';

let server: TestServer;
let token: string;
const repos: TestRepo[] = [];

async function project(name: string, manifest: string[]): Promise<void> {
  const repo = new TestRepo({ 'sandrun.yaml': [...manifest, ''].join('\n'), 'main.py': 'print(1)\n' });
  repos.push(repo);
  const created = await server.request(token, 'POST', '/v1/projects', { name, repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
}

const run = (projectName: string) => server.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: projectName });

beforeAll(async () => {
  // No warm pool: every answer here comes before any container. Under gVisor (registered without networking) no run
  // can be given network: what a server that cannot serve a grant answers.
  server = await startTestServer({ SANDRUN_EGRESS_ALLOW: 'api.example.com:443,10.0.0.0/8:5432', SANDRUN_POOL_SIZE: '0', SANDRUN_RUNTIME: 'runsc' });
  token = await server.token(`egress-${process.pid}`);
  await project('asks-too-much', ['image: sandrun/python:3.11', 'command: [python, main.py]', 'network:', '  allow: ["api.example.com:443", "data.internal:8080", "10.1.2.3:5432"]']);
  await project('asks-allowed', ['image: sandrun/python:3.11', 'command: [python, main.py]', 'network:', '  allow: ["api.example.com:443"]']);
  await project('asks-badly', ['image: sandrun/python:3.11', 'command: [python, main.py]', 'network:', '  allow:', '    - api.example.com']);
});

afterAll(async () => {
  await server?.close();
  for (const repo of repos) repo.remove();
});

describe('network.allow at run time', () => {
  it('a destination the operator did not allow is a 422 egress_denied naming it and the rule it would need; no run is recorded', async () => {
    const answer = await run('asks-too-much');
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('egress_denied');
    expect(answer.body.error.message).toContain('data.internal:8080 is not allowed: no rule of SANDRUN_EGRESS_ALLOW covers it (the operator would add data.internal:8080 or *.internal:8080)');
    expect(answer.body.error.message, 'granted destinations are not named').not.toContain('api.example.com');
    expect(answer.body.error.message, 'an address inside an allowed private range is granted').not.toContain('10.1.2.3');
    expect((await server.request(token, 'GET', '/v1/runs?project_name=asks-too-much')).body.runs).toEqual([]);
  });

  it('a project whose destinations are all allowed is refused by a server that cannot give its runs network, rather than run without it', async () => {
    const answer = await run('asks-allowed');
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('egress_denied');
    expect(answer.body.error.message).toContain('the gVisor runtime (SANDRUN_RUNTIME=runsc) is registered here without networking');
    expect(answer.body.error.details).toEqual({ grants: [{ host: 'api.example.com', port: 443 }] });
  });

  it('the project view lists each destination asked for and whether the operator grants it', async () => {
    const project = await server.request(token, 'GET', '/v1/projects/asks-too-much');
    expect(project.status, JSON.stringify(project.body)).toBe(200);
    expect(project.body.network).toEqual([
      { destination: 'api.example.com:443', granted: true },
      { destination: 'data.internal:8080', granted: false },
      { destination: '10.1.2.3:5432', granted: true },
    ]);
  });

  it('a malformed destination is a 422 manifest_invalid naming the line', async () => {
    const answer = await run('asks-badly');
    expect(answer.status, JSON.stringify(answer.body)).toBe(422);
    expect(answer.body.error.code).toBe('manifest_invalid');
    expect(answer.body.error.message).toContain("line 5: network.allow[0]: 'api.example.com' is not of the form host:port");
  });
});

await eachBackend(
  'egress on swarm',
  () => {
    it('a run asking for an allowed destination is refused with 422 saying swarm runs cannot be given network, before any service', async () => {
      const swarm = await startTestServer({ ...(await backendServerEnv('swarm')), SANDRUN_EGRESS_ALLOW: 'api.example.com:443' });
      try {
        const swarmToken = await swarm.token(`egress-swarm-${process.pid}`);
        const repo = new TestRepo({ 'sandrun.yaml': 'image: sandrun/python:3.11\ncommand: [python, main.py]\nnetwork:\n  allow: ["api.example.com:443"]\n', 'main.py': 'print(1)\n' });
        repos.push(repo);
        expect((await swarm.request(swarmToken, 'POST', '/v1/projects', { name: 'asks', repo_url: repo.dir })).status).toBe(201);
        const answer = await swarm.request(swarmToken, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'asks' });
        expect(answer.status, JSON.stringify(answer.body)).toBe(422);
        expect(answer.body.error.code).toBe('egress_denied');
        expect(answer.body.error.message).toContain('runs on a swarm cannot be given network access yet');
        expect((await swarm.request(swarmToken, 'GET', '/v1/runs?project_name=asks')).body.runs, 'no run recorded').toEqual([]);
      } finally {
        await swarm.close();
      }
    });
  },
  ['swarm'],
);
