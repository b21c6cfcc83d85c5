// The database's tables as Kysely sees them, one interface per table; the same types serve SQLite and PostgreSQL.
import type { Generated } from 'kysely';
import type { RunStatus } from '../run-status.ts';

// Booleans are 0/1 INTEGERs and structured values JSON TEXT on both dialects, so a row reads the same from either.
export interface TenantTable {
  id: string;
  created_at: string;
  retention_days: number | null;
}

export interface ProjectTable {
  id: string;
  tenant_id: string;
  name: string;
  repo_url: string;
  default_branch: string;
  next_run_number: Generated<number>;
  created_at: string;
  refreshed_at: string;
  deleted_at: string | null;
  credential_type: 'https_token' | 'ssh_key' | null;
  credential_sealed: string | null;
}

export interface RunTable {
  seq: Generated<number>;
  id: string;
  tenant_id: string;
  project_id: string;
  project_name: string;
  run_number: number;
  scope: 'project' | 'model';
  model_name: string | null;
  branch: string | null;
  commit_sha: string;
  parameters: string;
  image: string;
  command: string;
  limits: string;
  warning: string | null;
  status: RunStatus;
  exit_code: number | null;
  stdout: Generated<string>;
  stderr: Generated<string>;
  stdout_truncated: Generated<number>;
  stderr_truncated: Generated<number>;
  outputs: Generated<string>;
  error_code: string | null;
  error_message: string | null;
  error_details: string | null;
  status_message: string | null;
  duration_seconds: number | null;
  data_snapshot_ref: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  cpu_seconds: number | null;
  peak_memory_bytes: number | null;
  output_bytes: number | null;
  egress: string | null;
  purged_at: string | null;
  image_id: string | null;
  replay_of: string | null;
  outputs_match: number | null;
  sandbox_ref: string | null;
  slot_claimed_at: string | null;
  /** The server (servers.id) that answers for the unfinished run; null on SQLite's single server, and for older rows. */
  server_id: string | null;
  /** When a cancel was asked of a run whose server may be gone: whoever takes the run over cancels it. */
  cancel_requested_at: string | null;
}

/** PostgreSQL: one row per server start (membership.ts); the times are the database's clock. */
export interface ServerTable {
  id: string;
  /** The data directory's identity (the sandrun.instance label on its containers); the same across its restarts. */
  instance_id: string;
  started_at: Date;
  heartbeat_at: Date;
  stopped_at: Date | null;
}

export interface TokenTable {
  id: string;
  tenant_id: string;
  name: string | null;
  secret_hash: string;
  scopes: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface IdempotencyKeyTable {
  tenant_id: string;
  key: string;
  request_hash: string;
  run_id: string;
  created_at: string;
}

export interface AuditLogTable {
  seq: Generated<number>;
  at: string;
  tenant_id: string | null;
  credential_id: string | null;
  action: string;
  target: string | null;
  status: number;
  outcome: 'ok' | 'denied' | 'failed';
  error_code: string | null;
  source_address: string | null;
  request_id: string | null;
}

export interface EnvironmentTable {
  key: string;
  tenant_id: string;
  tag: string;
  base_image: string;
  status: 'building' | 'ready' | 'failed';
  log: Generated<string>;
  error_message: string | null;
  image_id: string | null;
  size_bytes: number | null;
  build_seconds: number | null;
  started_at: string;
  finished_at: string | null;
  last_used_at: string;
}

export interface ProjectSecretTable {
  tenant_id: string;
  project_id: string;
  key: string;
  sealed: string;
  updated_at: string;
}

export interface WebhookTable {
  id: string;
  tenant_id: string;
  url: string;
  events: string;
  secret_sealed: string;
  created_at: string;
}

export interface WebhookDeliveryTable {
  seq: Generated<number>;
  id: string;
  webhook_id: string;
  tenant_id: string;
  event: string;
  run_id: string;
  body: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Generated<number>;
  created_at: string;
  first_attempt_at: string | null;
  next_attempt_at: string | null;
  finished_at: string | null;
}

export interface WebhookAttemptTable {
  delivery_id: string;
  attempt: number;
  at: string;
  status_code: number | null;
  error: string | null;
}

export interface RunArtifactTable {
  tenant_id: string;
  run_id: string;
  path: string;
  size: number;
  sha256: string;
  content_type: string;
}

export interface Schema {
  tenants: TenantTable;
  projects: ProjectTable;
  runs: RunTable;
  tokens: TokenTable;
  idempotency_keys: IdempotencyKeyTable;
  audit_log: AuditLogTable;
  environments: EnvironmentTable;
  project_secrets: ProjectSecretTable;
  webhooks: WebhookTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  run_artifacts: RunArtifactTable;
  servers: ServerTable;
}
