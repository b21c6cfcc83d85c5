// Versioned schema migrations for SQLite and PostgreSQL, applied in order at start inside one transaction each.
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { POSTGRES_BASELINE } from './postgres-baseline.ts';

/*
 * How to add a migration (one entry at the END of MIGRATIONS, for both databases at once):
 * - A string is run as it is on SQLite AND on PostgreSQL. Write it in the SQL both read the same way: TEXT, BIGINT
 *   (integers; SQLite's INTEGER affinity), DOUBLE PRECISION (never REAL: PostgreSQL's REAL is 4 bytes), booleans as
 *   0/1 BIGINT, JSON as TEXT; ALTER TABLE ... ADD COLUMN, CREATE [UNIQUE] INDEX ... [WHERE ...], CREATE TABLE with
 *   REFERENCES. No AUTOINCREMENT, triggers, PRAGMA or ON CONFLICT REPLACE.
 * - Where the two cannot share one text (an identity column, a trigger), give `{ sqlite, postgres }`.
 * SQLite counts its version in PRAGMA user_version (1..MIGRATIONS.length). PostgreSQL started later: its version 1 is
 * POSTGRES_BASELINE (the schema of SQLite version 9, the first nine entries), then one version per entry after those.
 */
export type Migration = string | { sqlite: string; postgres: string };

// Every table carries its tenant: isolation is enforced by the queries, never by the caller remembering.
export const MIGRATIONS: Migration[] = [
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
  // 2: operators' accounting — resource usage per run, idempotency keys, the audit log, per-tenant retention.
  `
  ALTER TABLE runs ADD COLUMN cpu_seconds REAL;
  ALTER TABLE runs ADD COLUMN peak_memory_bytes INTEGER;
  ALTER TABLE runs ADD COLUMN output_bytes INTEGER;
  ALTER TABLE runs ADD COLUMN purged_at TEXT;
  CREATE INDEX runs_tenant_finished ON runs(tenant_id, finished_at);
  CREATE INDEX runs_unpurged ON runs(finished_at) WHERE purged_at IS NULL;
  CREATE INDEX runs_project_commit ON runs(project_id, commit_sha);
  ALTER TABLE tenants ADD COLUMN retention_days INTEGER;
  CREATE TABLE idempotency_keys (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
  );
  CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    tenant_id TEXT,
    credential_id TEXT,
    action TEXT NOT NULL,
    target TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error_code TEXT,
    source_address TEXT,
    request_id TEXT
  );
  CREATE INDEX audit_log_tenant_seq ON audit_log(tenant_id, seq DESC);
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // 3: a project's repository credential, sealed (AES-256-GCM, src/secrets/secret-box.ts); its type is not secret.
  `
  ALTER TABLE projects ADD COLUMN credential_type TEXT;
  ALTER TABLE projects ADD COLUMN credential_sealed TEXT;
  `,
  // 4: project environments (SPEC §9): one row per distinct environment (its key), the run's message while it waits
  // for one, and an error's details (a failed build's log tail).
  `
  CREATE TABLE environments (
    key TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    base_image TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
    log TEXT NOT NULL DEFAULT '',
    error_message TEXT,
    image_id TEXT,
    size_bytes INTEGER,
    build_seconds REAL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    last_used_at TEXT NOT NULL
  );
  CREATE INDEX environments_last_used ON environments(last_used_at);
  CREATE INDEX environments_tenant ON environments(tenant_id, last_used_at);
  ALTER TABLE runs ADD COLUMN status_message TEXT;
  ALTER TABLE runs ADD COLUMN error_details TEXT;
  `,
  // 5: a project's secrets (SPEC §10): one row per key, the value sealed (AES-256-GCM, src/secrets/secret-box.ts);
  // the rows go when the project is removed (projects are soft-deleted, so ProjectStore.delete removes them).
  `
  CREATE TABLE project_secrets (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    sealed TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, key)
  );
  CREATE INDEX project_secrets_tenant ON project_secrets(tenant_id, project_id);
  `,
  // 6: what a run's connections through the egress proxy moved (SPEC §11), a JSON array per destination; NULL: none.
  `
  ALTER TABLE runs ADD COLUMN egress TEXT;
  `,
  // replay slice (#20, SPEC §12): the engine's ID of the image a run started on (data_snapshot_ref, already a column,
  // is set with it when the run starts); the run a replay repeats, and whether its outputs matched (set when it ends).
  `
  ALTER TABLE runs ADD COLUMN image_id TEXT;
  ALTER TABLE runs ADD COLUMN replay_of TEXT;
  ALTER TABLE runs ADD COLUMN outputs_match INTEGER;
  `,
  // webhooks (issue #20, SPEC §12): a tenant's webhooks (the signing secret sealed), one delivery per webhook and
  // finished run holding the exact body every attempt sends (the durable queue: due when next_attempt_at has come;
  // NULL once delivered or failed), and each attempt's answer.
  `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX webhooks_tenant ON webhooks(tenant_id, created_at);
  CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    event TEXT NOT NULL,
    run_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    first_attempt_at TEXT,
    next_attempt_at TEXT,
    finished_at TEXT
  );
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, seq DESC);
  CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(finished_at) WHERE status <> 'pending';
  CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    status_code INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
  );
  `,
  // artifacts slice (issue 20, SPEC §12): the files a run left under /outputs, one row each; the bytes are stored once
  // per SHA-256 in the data directory (artifacts/ab/cdef...), and go when no row names them (retention).
  `
  CREATE TABLE run_artifacts (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    run_id TEXT NOT NULL REFERENCES runs(id),
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
  );
  CREATE INDEX run_artifacts_sha256 ON run_artifacts(sha256);
  `,
  // adopt slice (issue 21, SPEC §13): where a running run's container is (the sandbox's own JSON note, written with
  // started_at), so that a server that did not start the run can adopt it and finish it from its container.
  `
  ALTER TABLE runs ADD COLUMN sandbox_ref TEXT;
  `,
  // bus slice (issue 21): per-tenant limits shared by the servers of one PostgreSQL database (shared-tenant-limits.ts).
  // SQLite has one server, whose request budgets and stream slots stay in its memory.
  {
    sqlite: '-- PostgreSQL only',
    postgres: `
    CREATE TABLE rate_buckets (
      bucket TEXT PRIMARY KEY,
      tokens DOUBLE PRECISION NOT NULL,
      updated_at_ms DOUBLE PRECISION NOT NULL,
      granted BOOLEAN NOT NULL
    );
    CREATE TABLE log_stream_leases (
      id UUID PRIMARY KEY,
      tenant_id TEXT NOT NULL,
      server_id TEXT NOT NULL,
      expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX log_stream_leases_tenant ON log_stream_leases (tenant_id);
    CREATE INDEX log_stream_leases_server ON log_stream_leases (server_id);
    `,
  },
  // limits slice (issue 21, SPEC §13): when the run got one of the service's run slots (run-slots.ts); null: it holds
  // none. A run holds its slot while it is pending or running, so its end frees it. Only PostgreSQL's servers write it
  // (SQLite's one server counts slots in memory); runs running already hold theirs.
  `
  ALTER TABLE runs ADD COLUMN slot_claimed_at TEXT;
  UPDATE runs SET slot_claimed_at = started_at WHERE status = 'running';
  `,
  // members slice (issue 21, SPEC §13): which server answers for each unfinished run, and which servers are alive (by
  // their heartbeats, on the database's clock), so that a dead server's runs are taken over and a live one's never are.
  {
    sqlite: 'ALTER TABLE runs ADD COLUMN server_id TEXT; ALTER TABLE runs ADD COLUMN cancel_requested_at TEXT;',
    postgres: `
    ALTER TABLE runs ADD COLUMN server_id TEXT;
    ALTER TABLE runs ADD COLUMN cancel_requested_at TEXT;
    CREATE INDEX runs_unfinished_server ON runs (server_id) WHERE status IN ('pending', 'running');
    CREATE TABLE servers (
      id TEXT PRIMARY KEY,
      instance_id TEXT NOT NULL,
      started_at TIMESTAMPTZ NOT NULL,
      heartbeat_at TIMESTAMPTZ NOT NULL,
      stopped_at TIMESTAMPTZ
    );
    CREATE INDEX servers_instance ON servers (instance_id);
    `,
  },
];

/** The SQLite migrations folded into POSTGRES_BASELINE. */
const BASELINE_VERSION = 9;

const sqlOf = (migration: Migration, kind: 'sqlite' | 'postgres'): string => (typeof migration === 'string' ? migration : migration[kind]);

/** Brings a SQLite database up to date; its version is PRAGMA user_version. */
export function migrateSqlite(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      db.exec(sqlOf(MIGRATIONS[version]!, 'sqlite'));
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return MIGRATIONS.length;
}

/** PostgreSQL's versions in order: the baseline, then every migration after the ones it holds. */
export const POSTGRES_MIGRATIONS: string[] = [POSTGRES_BASELINE, ...MIGRATIONS.slice(BASELINE_VERSION).map((migration) => sqlOf(migration, 'postgres'))];

/** Any fixed number, the same in every server: the session lock that lets one of several starting servers migrate. */
const MIGRATION_LOCK = 7_365_021_113;

/**
 * Brings a PostgreSQL database up to date; its version is the one row of sandrun_schema. Servers starting at once
 * wait for each other on an advisory lock, so the first migrates and the others find the work done.
 */
export async function migratePostgres(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS sandrun_schema (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM sandrun_schema');
      if (rows.length === 0) await client.query('INSERT INTO sandrun_schema (version) VALUES (0)');
      const current = rows[0]?.version ?? 0;
      for (let version = current; version < POSTGRES_MIGRATIONS.length; version += 1) {
        await client.query('BEGIN');
        try {
          await client.query(POSTGRES_MIGRATIONS[version]!);
          await client.query('UPDATE sandrun_schema SET version = $1', [version + 1]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
  return POSTGRES_MIGRATIONS.length;
}
