// Schema migrations: both databases from empty, several PostgreSQL servers starting at once, and an older SQLite file brought up to date.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.ts';
import { MIGRATIONS, POSTGRES_MIGRATIONS } from '../../src/store/migrations.ts';
import { RunStore } from '../../src/store/run-store.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const dirs: string[] = [];
const databases: TestDatabase[] = [];
afterAll(async () => {
  for (const database of databases) await database.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-migrate-'));
  dirs.push(dir);
  return join(dir, 'sandrun.db');
};

describe('SQLite', () => {
  it('an empty file gets every migration (user_version = their count)', async () => {
    const database = await openDatabase({ kind: 'sqlite', file: tempFile() });
    expect(database.sqlite!.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    await database.close();
  });

  it('a database at user_version 1 is brought up to date and keeps its runs', async () => {
    const file = tempFile();
    const old = new Database(file);
    old.exec(MIGRATIONS[0] as string);
    old.pragma('user_version = 1');
    old.exec(`INSERT INTO tenants (id, created_at) VALUES ('t', '2026-01-01T00:00:00.000Z');
      INSERT INTO projects (id, tenant_id, name, repo_url, default_branch, created_at, refreshed_at, next_run_number) VALUES ('p', 't', 'demo', '/r', 'main', 'x', 'x', 2);
      INSERT INTO runs (id, tenant_id, project_id, project_name, run_number, scope, commit_sha, parameters, image, command, limits, status, created_at)
        VALUES ('r1', 't', 'p', 'demo', 1, 'project', 'c', '{}', 'i', '["x"]', '{}', 'success', 'x');`);
    old.close();
    const database = await openDatabase({ kind: 'sqlite', file });
    expect(database.sqlite!.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    const runs = new RunStore(database.db, 'sqlite');
    expect(await runs.get('r1'), 'the run from version 1, read through the newest schema').toMatchObject({ runNumber: 1, egress: [], replayOf: null, artifacts: [] });
    await database.close();
  });
});

describe('PostgreSQL', () => {
  it('an empty database gets its baseline and later migrations once, with three servers starting at once', async () => {
    const target = await createTestDatabase();
    databases.push(target);
    const opened = await Promise.all([1, 2, 3].map(() => openDatabase({ kind: 'postgres', url: target.url })));
    for (const database of opened) await database.close();
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>('SELECT version FROM sandrun_schema');
      expect(rows, 'one version row').toEqual([{ version: POSTGRES_MIGRATIONS.length }]);
      const tables = await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name");
      expect(tables.rows.map((row) => row.table_name)).toEqual([
        'audit_log', 'environments', 'idempotency_keys', 'log_stream_leases', 'project_secrets', 'projects', 'rate_buckets', 'run_artifacts', 'runs', 'sandrun_schema', 'servers', 'tenants', 'tokens', 'webhook_attempts', 'webhook_deliveries', 'webhooks',
      ]);
    } finally {
      await client.end();
    }
    const again = await openDatabase({ kind: 'postgres', url: target.url });
    await again.close();
  });
});
