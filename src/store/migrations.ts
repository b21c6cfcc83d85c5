// Versioned schema migrations, applied in order at start inside one transaction each.
import type Database from 'better-sqlite3';

// Every table carries its tenant: isolation is enforced by the queries, never by the caller remembering.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
  );
  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    repo_url TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    next_run_number INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    refreshed_at TEXT NOT NULL,
    deleted_at TEXT
  );
  CREATE UNIQUE INDEX projects_live_name ON projects(tenant_id, name) WHERE deleted_at IS NULL;
  CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    project_name TEXT NOT NULL,
    run_number INTEGER NOT NULL,
    scope TEXT NOT NULL,
    model_name TEXT,
    branch TEXT,
    commit_sha TEXT NOT NULL,
    parameters TEXT NOT NULL,
    image TEXT NOT NULL,
    command TEXT NOT NULL,
    limits TEXT NOT NULL,
    warning TEXT,
    status TEXT NOT NULL,
    exit_code INTEGER,
    stdout TEXT NOT NULL DEFAULT '',
    stderr TEXT NOT NULL DEFAULT '',
    stdout_truncated INTEGER NOT NULL DEFAULT 0,
    stderr_truncated INTEGER NOT NULL DEFAULT 0,
    outputs TEXT NOT NULL DEFAULT '{}',
    error_code TEXT,
    error_message TEXT,
    duration_seconds REAL,
    data_snapshot_ref TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (project_id, run_number)
  );
  CREATE INDEX runs_tenant_seq ON runs(tenant_id, seq DESC);
  CREATE INDEX runs_tenant_project_seq ON runs(tenant_id, project_name, seq DESC);
  CREATE INDEX runs_unfinished ON runs(status) WHERE status IN ('pending', 'running');
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT
  );
  CREATE INDEX tokens_tenant ON tokens(tenant_id);
  `,
];

export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
