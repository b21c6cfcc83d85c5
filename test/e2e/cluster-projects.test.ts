// Servers sharing one database each keep their own git mirrors (SPEC §13): a project registered through one server runs
// on another, and a refresh through one is what every server's next run sees.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';

let group: ServerGroup;
let repo: TestRepo;
let token: string;

beforeAll(async () => {
  repo = new TestRepo({ 'sandrun.yaml': 'image: sandrun/python:3.11\nmodels:\n  hello:\n    command: [python, hello.py]\n', 'hello.py': 'print("first")\n' });
  group = await startServerGroup(2);
  token = await group.token('mirrors');
});
afterAll(async () => {
  await group?.close();
  repo?.remove();
});

async function call(server: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(group.url(server) + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const run = (server: number) => call(server, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hello', model_name: 'hello' });

describe('projects across two servers on one database', () => {
  it('a project registered on one server runs on the other, and a refresh on one reaches the other', async () => {
    expect((await call(0, 'POST', '/v1/projects', { name: 'hello', repo_url: repo.dir })).status).toBe(201);
    const onOther = await run(1);
    expect(onOther.body, JSON.stringify(onOther.body)).toMatchObject({ status: 'success', stdout: 'first\n', run_number: 1 });

    const second = repo.commit({ 'hello.py': 'print("second")\n' });
    // Not refreshed yet: both servers run the registered commit.
    expect((await run(0)).body).toMatchObject({ stdout: 'first\n' });
    expect((await call(1, 'POST', '/v1/projects/hello/refresh')).status).toBe(200);
    for (const server of [0, 1]) {
      const after = await run(server);
      expect(after.body, `server ${server}`).toMatchObject({ status: 'success', stdout: 'second\n', commit_sha: second });
    }
    const shown = await call(0, 'GET', '/v1/projects/hello');
    expect(shown.body.commit_sha, 'the project as server 0 shows it').toBe(second);
  });
});
