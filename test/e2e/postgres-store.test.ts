// A server storing in PostgreSQL (SANDRUN_DATABASE_URL): runs sync and async, lists them, keeps them across a restart; the CLI makes its tokens there.
import { execFile } from 'node:child_process';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess, apiCaller } from '../helpers/server-process.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
let database: TestDatabase;
let dataDir: string;
let repo: TestRepo;
let server: ServerProcess | undefined;
let token: string;
let env: Record<string, string>;

function sandrun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    ),
  );
}

const call = apiCaller(() => server!.url, () => token);

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-pg-'));
  env = { SANDRUN_DATA_DIR: dataDir, SANDRUN_DATABASE_URL: database.url, SANDRUN_LOG_LEVEL: 'warn' };
  repo = new TestRepo({ 'models/hello.py': 'import json, os\nprint("hello", os.environ["SANDRUN_RUN_NUMBER"])\n' });
});
afterAll(async () => {
  if (server) await stopGracefully(server);
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  repo?.remove();
});

describe('SANDRUN_DATABASE_URL', () => {
  it('`sandrun tokens create` writes the token into PostgreSQL, not into the data directory', async () => {
    const created = await sandrun(['tokens', 'create', '--tenant', 'pg-tenant', '--scopes', 'runs:read,runs:write,projects:read,projects:write', '--json']);
    expect(created.code, created.stderr).toBe(0);
    token = JSON.parse(created.stdout).token;
    expect(existsSync(join(dataDir, 'sandrun.db')), 'a SQLite file in the data directory').toBe(false);
    const listed = await sandrun(['tokens', 'list', '--json', '--tenant', 'pg-tenant']);
    expect(JSON.parse(listed.stdout).tokens).toHaveLength(1);
    const backup = await sandrun(['backup', join(dataDir, 'copy.db')]);
    expect(backup.code, 'sandrun backup on PostgreSQL').not.toBe(0);
    expect(backup.stderr).toMatch(/pg_dump/);
  });

  it('a server on it runs a project sync and async, lists the runs, and still has them after a restart', async () => {
    server = await startServerProcess(env, await freePort());
    expect((await call('POST', '/v1/projects', { name: 'pg', repo_url: repo.dir })).status).toBe(201);
    const sync = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'pg', model_name: 'hello' });
    expect(sync.status, JSON.stringify(sync.body)).toBe(200);
    expect(sync.body).toMatchObject({ status: 'success', run_number: 1, stdout: 'hello 1\n' });
    const queued = await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'pg', model_name: 'hello' });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    const done = await pollRun(() => call('GET', `/v1/runs/${queued.body.run_id}`), queued.body.run_id);
    expect(done).toMatchObject({ status: 'success', run_number: 2, stdout: 'hello 2\n' });
    const listed = await call('GET', '/v1/runs?project_name=pg');
    expect(listed.body.runs.map((run: any) => run.run_number)).toEqual([2, 1]);

    await stopGracefully(server);
    server = await startServerProcess(env, await freePort());
    const after = await call('GET', '/v1/runs?project_name=pg');
    expect(after.body.runs.map((run: any) => [run.run_number, run.status]), 'the runs after a restart').toEqual([[2, 'success'], [1, 'success']]);
    const third = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'pg', model_name: 'hello' });
    expect(third.body, 'numbering continues').toMatchObject({ status: 'success', run_number: 3 });
  });
});
