// The `sandrun` CLI as a user runs it: a child process against a real server, real git repo and real runs.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The demo project, plus a model that prints to stderr and exits 3. */
const FILES: Record<string, string> = {
  ...DEMO_FILES,
  'sandrun.yaml': DEMO_FILES['sandrun.yaml']!.replace(
    'models:\n',
    'models:\n  crash:\n    command: ["python", "-c", "import sys; print(\'boom\', file=sys.stderr); sys.exit(3)"]\n',
  ),
};

describe('sandrun CLI', () => {
  let server: TestServer;
  let repo: TestRepo;
  let token: string;
  const tenant = `cli-${process.pid}`;

  // Asynchronous on purpose: the server answering the CLI lives in this process's event loop.
  const sandrun = (args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const childEnv: NodeJS.ProcessEnv = { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: token, SANDRUN_DATA_DIR: server.dataDir, NO_COLOR: '1', ...env };
      for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
      execFile(process.execPath, [BIN, ...args], { env: childEnv, encoding: 'utf8', timeout: 90_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });

  const describeResult = (result: CliResult) => `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;

  beforeAll(async () => {
    server = await startTestServer();
    repo = new TestRepo(FILES);
    token = await server.token(tenant);
    const added = await sandrun(['projects', 'add', 'demo', repo.dir]);
    expect(added.code, describeResult(added)).toBe(0);
  });

  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  it('tokens create prints a working token as its last line, and tokens list never shows it', async () => {
    const created = await sandrun(['tokens', 'create', '--tenant', `${tenant}-b`, '--scopes', 'projects:read,runs:read', '--name', 'ci', '--expires', '30d']);
    expect(created.code, describeResult(created)).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    const secret = lines.at(-1)!;
    expect(secret, describeResult(created)).toMatch(/^sr_[A-Za-z0-9_-]{43}$/);
    expect(created.stdout.split(secret).length - 1, 'the token is printed once').toBe(1);

    const response = await server.request(secret, 'GET', '/v1/projects');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.projects, 'a new tenant sees no other tenant’s projects').toEqual([]);

    const listed = await sandrun(['tokens', 'list', '--tenant', `${tenant}-b`]);
    expect(listed.code, describeResult(listed)).toBe(0);
    expect(listed.stdout).toContain(`${tenant}-b`);
    expect(listed.stdout).toContain('projects:read,runs:read');
    expect(listed.stdout).not.toContain(secret);
    expect(listed.stdout).not.toContain(secret.slice(3, 20));

    const listedJson = await sandrun(['tokens', 'list', '--json']);
    expect(listedJson.stdout).not.toContain(secret.slice(3, 20));
    const id = (JSON.parse(listedJson.stdout).tokens as { id: string; tenant: string }[]).find((t) => t.tenant === `${tenant}-b`)!.id;

    const revoked = await sandrun(['tokens', 'revoke', id]);
    expect(revoked.code, describeResult(revoked)).toBe(0);
    expect((await server.request(secret, 'GET', '/v1/projects')).status, 'a revoked token is refused').toBe(401);
  });

  it('tokens create rejects an unknown scope with a usage error that lists the scopes', async () => {
    const result = await sandrun(['tokens', 'create', '--tenant', tenant, '--scopes', 'runs:read,runs:delete']);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain("unknown scope 'runs:delete'");
    expect(result.stderr).toContain('projects:write');
    expect(result.stdout).not.toMatch(/sr_/);
  });

  it('projects list and show the registered project with its models', async () => {
    const listed = await sandrun(['projects', 'list']);
    expect(listed.code, describeResult(listed)).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+BRANCH/m);
    expect(listed.stdout).toMatch(/^demo\s+main/m);

    const shown = await sandrun(['projects', 'show', 'demo', '--json']);
    expect(shown.code, describeResult(shown)).toBe(0);
    expect(JSON.parse(shown.stdout).models).toEqual(expect.arrayContaining(['revenue', 'summary', 'crash']));
  });

  it('run MODEL --param prints success and the outputs', async () => {
    const result = await sandrun(['run', 'demo', 'revenue', '--param', 'growth_rate=0.5']);
    expect(result.code, describeResult(result)).toBe(0);
    expect(result.stdout).toMatch(/status:\s+success/);
    expect(result.stdout).toMatch(/exit code:\s+0/);
    expect(result.stdout).toContain('"revenue": [');
    expect(result.stdout).toContain('225');
    expect(result.stdout).toContain('revenue at growth 0.5: [100.0, 150.0, 225.0]');
  });

  it('run --json prints exactly the server’s result', async () => {
    const result = await sandrun(['run', 'demo', 'revenue', '--param', 'growth_rate=0.5', '--json']);
    expect(result.code, describeResult(result)).toBe(0);
    const run = JSON.parse(result.stdout);
    expect(run.status, describeResult(result)).toBe('success');
    expect(run.outputs.revenue).toEqual([100, 150, 225]);
    expect(run.model_name).toBe('revenue');
  });

  it('--param values are JSON when they parse and text otherwise; --params-json is the base', async () => {
    const result = await sandrun(['run', 'demo', 'summary', '--params-json', '{"a":1,"rate":0}', '--param', 'rate=0.08', '--param', 'name=acme', '--param', 'flags=[1,2]', '--json']);
    expect(result.code, describeResult(result)).toBe(0);
    expect(JSON.parse(result.stdout).outputs.summary.parameters).toEqual({ a: 1, rate: 0.08, name: 'acme', flags: [1, 2] });
  });

  it('a failed run exits 1 and shows its stderr', async () => {
    const result = await sandrun(['run', 'demo', 'crash']);
    expect(result.code, describeResult(result)).toBe(1);
    expect(result.stdout).toMatch(/status:\s+failed/);
    expect(result.stdout).toMatch(/exit code:\s+3/);
    expect(result.stdout).toContain('boom');
  });

  it('run --async returns at once; runs logs --follow and runs get see it finish; runs list includes it', async () => {
    const submitted = await sandrun(['run', 'demo', 'revenue', '--async', '--json']);
    expect(submitted.code, describeResult(submitted)).toBe(0);
    const receipt = JSON.parse(submitted.stdout);
    expect(receipt.status).toBe('pending');

    const logs = await sandrun(['runs', 'logs', receipt.run_id, '--follow']);
    expect(logs.code, describeResult(logs)).toBe(0);
    expect(logs.stdout).toContain('revenue at growth 0.1');
    expect(logs.stderr).toContain('success');

    const got = await sandrun(['runs', 'get', receipt.run_id, '--json']);
    expect(got.code, describeResult(got)).toBe(0);
    expect(JSON.parse(got.stdout).status).toBe('success');

    const gotText = await sandrun(['runs', 'get', receipt.run_id]);
    expect(gotText.stdout).toMatch(/status:\s+success/);

    const listed = await sandrun(['runs', 'list', '--project', 'demo', '--json']);
    expect(listed.code, describeResult(listed)).toBe(0);
    expect(JSON.parse(listed.stdout).runs.map((run: { run_id: string }) => run.run_id)).toContain(receipt.run_id);

    const table = await sandrun(['runs', 'list', '--limit', '5']);
    expect(table.stdout).toMatch(/^RUN ID\s+#\s+PROJECT/m);
    expect(table.stdout).toContain(receipt.run_id);
  });

  it('runs logs --follow of a failed run exits 1 and writes its stderr to stderr', async () => {
    const submitted = await sandrun(['run', 'demo', 'crash', '--async', '--json']);
    const { run_id: runId } = JSON.parse(submitted.stdout);
    const logs = await sandrun(['runs', 'logs', runId, '--follow']);
    expect(logs.code, describeResult(logs)).toBe(1);
    expect(logs.stderr).toContain('boom');
    expect(logs.stdout).not.toContain('boom');
  });

  it('without a token, an HTTP command fails and says how to create one', async () => {
    const result = await sandrun(['projects', 'list'], { SANDRUN_TOKEN: undefined });
    expect(result.code, describeResult(result)).not.toBe(0);
    expect(result.stderr).toContain('sandrun tokens create --tenant');
    expect(result.stderr).toContain('export SANDRUN_TOKEN=');
  });

  it('an unknown project exits 3 with the server’s not_found error', async () => {
    const result = await sandrun(['run', 'nope', '--param', 'x=1']);
    expect(result.code, describeResult(result)).toBe(3);
    expect(result.stderr).toContain('error (not_found)');
    expect(result.stderr).toContain('nope');

    const json = await sandrun(['projects', 'show', 'nope', '--json']);
    expect(json.code, describeResult(json)).toBe(3);
    expect(JSON.parse(json.stdout).error.code).toBe('not_found');
  });

  it('a malformed --param is a usage error', async () => {
    const result = await sandrun(['run', 'demo', 'revenue', '--param', 'growth_rate']);
    expect(result.code, describeResult(result)).toBe(2);
    expect(result.stderr).toContain('key=value');
  });
});
