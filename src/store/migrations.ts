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
