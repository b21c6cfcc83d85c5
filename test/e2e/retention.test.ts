// Retention: past a tenant's retention, finished runs lose their logs and outputs but keep their rows; checkouts and the database give the space back.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));

// Each run prints ~400 KB to each stream and writes ~200 KB of outputs: what retention is meant to reclaim.
const FILES: Record<string, string> = {
  'models/chatty.py': [
    'import json, sys',
    'print("o" * 400_000)',
    'print("e" * 400_000, file=sys.stderr)',
    'json.dump({"rows": ["x" * 100 for _ in range(2000)]}, open("/outputs/big.json", "w"))',
    '',
  ].join('\n'),
};

let server: TestServer;
let repo: TestRepo;
let token: string;
const tenant = `retention-${process.pid}`;

function sizeOf(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

const databaseBytes = () => ['sandrun.db', 'sandrun.db-wal'].reduce((sum, name) => sum + sizeOf(join(server.dataDir, name)), 0);

beforeAll(async () => {
  server = await startTestServer();
  repo = new TestRepo(FILES);
  token = await server.token(tenant);
  const created = await server.request(token, 'POST', '/v1/projects', { name: 'chatty', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
});

afterAll(async () => {
  await server?.close();
  repo?.remove();
});

describe('retention', () => {
  it('with retention 0 days, a purge empties logs and outputs of finished runs, keeps their rows, and shrinks the database and data dir', async () => {
    const runs: any[] = [];
    for (let index = 0; index < 6; index += 1) {
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'chatty', model_name: 'chatty' });
      expect(run.body.status, JSON.stringify(run.body.error)).toBe('success');
      runs.push(run.body);
    }
    expect(runs[0].stdout.length).toBeGreaterThan(400_000);
    server.sandrun.database.sqlite!.pragma('wal_checkpoint(TRUNCATE)');
    const databaseBefore = databaseBytes();
    const checkoutsBefore = sizeOf(join(server.dataDir, 'checkouts'));
    expect(checkoutsBefore).toBeGreaterThan(0);

    // What an operator does: the CLI on the server's database.
    const set = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'tenants', 'set-retention', tenant, '0'], { env: { ...process.env, SANDRUN_DATA_DIR: server.dataDir, NO_COLOR: '1' }, encoding: 'utf8' }, (error, stdout, stderr) =>
        resolve({ code: error ? 1 : 0, output: stdout + stderr }),
      );
    });
    expect(set.code, set.output).toBe(0);
    expect(set.output).toMatch(/0 day/);

    const report = await server.sandrun.retention.runOnce();
    expect(report.runsPurged).toBe(runs.length);
    expect(report.checkoutsRemoved).toBe(1);

    for (const before of runs) {
      const after = await server.request(token, 'GET', `/v1/runs/${before.run_id}`);
      expect(after.status).toBe(200);
      expect(after.body).toMatchObject({ stdout: '', stderr: '', outputs: {}, status: 'success', exit_code: 0, run_number: before.run_number });
      expect(after.body.usage).toEqual(before.usage);
      expect(after.body.duration_seconds).toBe(before.duration_seconds);
    }
    const databaseAfter = databaseBytes();
    const checkoutsAfter = sizeOf(join(server.dataDir, 'checkouts'));
    expect(databaseAfter, `database ${databaseBefore} → ${databaseAfter} bytes`).toBeLessThan(databaseBefore / 4);
    expect(checkoutsAfter, `checkouts ${checkoutsBefore} → ${checkoutsAfter} bytes`).toBe(0);

    // A checkout that a later run needs is simply built again.
    const again = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'chatty', model_name: 'chatty' });
    expect(again.body.status, JSON.stringify([again.body.error, again.body.stderr])).toBe('success');
    expect(again.body.stdout.length).toBeGreaterThan(400_000);
  });

  it("another tenant's runs within its retention are left alone", async () => {
    const other = await server.token(`retention-other-${process.pid}`);
    await server.request(other, 'POST', '/v1/projects', { name: 'chatty', repo_url: repo.dir });
    const run = await server.request(other, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'chatty', model_name: 'chatty' });
    await server.sandrun.retention.runOnce();
    const after = await server.request(other, 'GET', `/v1/runs/${run.body.run_id}`);
    expect(after.body.stdout.length).toBeGreaterThan(400_000);
    expect(Object.keys(after.body.outputs)).toEqual(['big']);
  });
});
