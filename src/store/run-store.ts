// Run records: insert with a gapless per-project number, state transitions, tenant-scoped reads.
import type { Db } from './database.ts';
import type { RunLimits } from '../run-limits.ts';
import type { RunStatus } from '../run-status.ts';
import { IdempotencyKeys, type IdempotencyKey, type StoredKey } from './idempotency-keys.ts';
import type { EgressUsage } from '../egress/egress-ledger.ts';
import type { Artifact } from '../artifacts/artifact-types.ts';
import { ArtifactStore } from './artifact-store.ts';

export type { RunStatus } from '../run-status.ts';


/** What the engine accounted for a finished run; null where it could not say. */
export interface RunUsage {
  cpuSeconds: number | null;
  peakMemoryBytes: number | null;
  /** Captured stdout + stderr (before capping) + outputs JSON. */
  outputBytes: number | null;
}

export interface RunError {
  code: string;
  message: string;
  /** More for the client to act on (environment_failed: the build log's tail as `log`). */
  details?: Record<string, unknown>;
}

export interface RunRecord {
  seq: number;
  id: string;
  tenantId: string;
  projectId: string;
  projectName: string;
  runNumber: number;
  scope: 'project' | 'model';
  modelName: string | null;
  branch: string | null;
  commitSha: string;
  parameters: Record<string, unknown>;
  image: string;
  command: string[];
  limits: RunLimits;
  warning: string | null;
  status: RunStatus;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  outputs: Record<string, unknown>;
  error: RunError | null;
  /** What a pending run waits for, when it is more than a free slot (its environment being built). */
  statusMessage: string | null;
  durationSeconds: number | null;
  dataSnapshotRef: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  usage: RunUsage;
  /** What its connections through the egress proxy moved, per destination (SPEC §11); empty without any. */
  egress: EgressUsage[];
  /** When retention removed its logs and outputs. */
  purgedAt: string | null;
  /** The engine's ID of the image it started on; null until it starts (and for runs from before it was recorded). */
  imageId: string | null;
  /** The run this one replays (POST /v1/runs/{id}/replay); null for any other run. */
  replayOf: string | null;
  /** A replay's outputs compared with its original's (outputs-match.ts), once it ended; null for any other run. */
  outputsMatch: boolean | null;
  /** The sandbox's note of where it runs (its container), set with its start: how another server adopts it; null: none. */
  sandboxRef: string | null;
  /** The files it left under /outputs (SPEC §12), sorted by path; empty once purged. */
  artifacts: Artifact[];
}

export type NewRun = Pick<
  RunRecord,
  'id' | 'tenantId' | 'projectId' | 'projectName' | 'scope' | 'modelName' | 'branch' | 'commitSha' | 'parameters' | 'image' | 'command' | 'limits' | 'warning'
> & { replayOf?: string | null };

/** What a run's start records beyond its time: the image it runs on and the ref of its inputs (data-snapshot.ts). */
export interface RunSnapshot {
  imageId: string;
  dataSnapshotRef: string;
}

/** What a run's end records: its state and what it produced; `finishedAt` is always known. */
export type RunCompletion = Pick<
  RunRecord,
  'status' | 'exitCode' | 'stdout' | 'stderr' | 'stdoutTruncated' | 'stderrTruncated' | 'outputs' | 'error' | 'durationSeconds' | 'startedAt' | 'usage' | 'egress' | 'artifacts'
> & { finishedAt: string; outputsMatch?: boolean | null };

interface RunRow {
  seq: number;
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
  stdout: string;
  stderr: string;
  stdout_truncated: number;
  stderr_truncated: number;
  outputs: string;
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
}

function toRecord(row: RunRow, artifacts: Artifact[]): RunRecord {
  return {
    seq: row.seq,
    id: row.id,
    tenantId: row.tenant_id,
    projectId: row.project_id,
    projectName: row.project_name,
    runNumber: row.run_number,
    scope: row.scope,
    modelName: row.model_name,
    branch: row.branch,
    commitSha: row.commit_sha,
    parameters: JSON.parse(row.parameters) as Record<string, unknown>,
    image: row.image,
    command: JSON.parse(row.command) as string[],
    limits: JSON.parse(row.limits) as RunLimits,
    warning: row.warning,
    status: row.status,
    exitCode: row.exit_code,
    stdout: row.stdout,
    stderr: row.stderr,
    stdoutTruncated: row.stdout_truncated === 1,
    stderrTruncated: row.stderr_truncated === 1,
    outputs: JSON.parse(row.outputs) as Record<string, unknown>,
    error: row.error_code
      ? { code: row.error_code, message: row.error_message ?? '', ...(row.error_details ? { details: JSON.parse(row.error_details) as Record<string, unknown> } : {}) }
      : null,
    statusMessage: row.status_message,
    durationSeconds: row.duration_seconds,
    dataSnapshotRef: row.data_snapshot_ref,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    usage: { cpuSeconds: row.cpu_seconds, peakMemoryBytes: row.peak_memory_bytes, outputBytes: row.output_bytes },
    egress: row.egress ? (JSON.parse(row.egress) as EgressUsage[]) : [],
    purgedAt: row.purged_at,
    imageId: row.image_id,
    replayOf: row.replay_of,
    outputsMatch: row.outputs_match === null ? null : row.outputs_match === 1,
    sandboxRef: row.sandbox_ref,
    artifacts,
  };
}

export interface RunListQuery {
  tenantId: string;
  projectName?: string;
  status?: RunStatus;
  limit: number;
  /** Only runs older than this seq (the cursor). */
  beforeSeq?: number;
}

export class RunStore {
  private readonly statements;
  readonly idempotencyKeys: IdempotencyKeys;
  readonly artifacts: ArtifactStore;

  constructor(private readonly db: Db) {
    this.idempotencyKeys = new IdempotencyKeys(db);
    this.artifacts = new ArtifactStore(db);
    this.statements = {
      nextNumber: db.prepare<[string], { run_number: number }>(
        'UPDATE projects SET next_run_number = next_run_number + 1 WHERE id = ? RETURNING next_run_number - 1 AS run_number',
      ),
      insert: db.prepare(`INSERT INTO runs (id, tenant_id, project_id, project_name, run_number, scope, model_name, branch, commit_sha,
        parameters, image, command, limits, warning, status, created_at, replay_of)
        VALUES (@id, @tenantId, @projectId, @projectName, @runNumber, @scope, @modelName, @branch, @commitSha,
        @parameters, @image, @command, @limits, @warning, 'pending', @createdAt, @replayOf)`),
      byId: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
      byTenantAndId: db.prepare<[string, string], RunRow>('SELECT * FROM runs WHERE tenant_id = ? AND id = ?'),
      markRunning: db.prepare<[string, string, string, string | null, string]>(
        "UPDATE runs SET status = 'running', started_at = ?, image_id = ?, data_snapshot_ref = ?, sandbox_ref = ?, status_message = NULL WHERE id = ? AND status = 'pending'",
      ),
      setStatusMessage: db.prepare<[string | null, string]>("UPDATE runs SET status_message = ? WHERE id = ? AND status = 'pending'"),
      complete: db.prepare(`UPDATE runs SET status = @status, exit_code = @exitCode, stdout = @stdout, stderr = @stderr,
        stdout_truncated = @stdoutTruncated, stderr_truncated = @stderrTruncated, outputs = @outputs, error_code = @errorCode,
        error_message = @errorMessage, error_details = @errorDetails, status_message = NULL, duration_seconds = @durationSeconds, started_at = COALESCE(@startedAt, started_at),
        finished_at = @finishedAt, cpu_seconds = @cpuSeconds, peak_memory_bytes = @peakMemoryBytes, output_bytes = @outputBytes,
        egress = @egress, outputs_match = @outputsMatch
        WHERE id = @id AND status IN ('pending', 'running')`),
      unfinished: db.prepare<[], RunRow>("SELECT * FROM runs WHERE status IN ('pending', 'running') ORDER BY seq"),
    };
  }

  /** Inserts a pending run with the project's next number, atomically: no gap, no repeat. */
  insert(run: NewRun, createdAt: string): RunRecord {
    return this.db.transaction(() => {
      const numbered = this.statements.nextNumber.get(run.projectId);
      if (!numbered) throw new Error(`project ${run.projectId} does not exist`);
      this.statements.insert.run({
        ...run,
        runNumber: numbered.run_number,
        parameters: JSON.stringify(run.parameters),
        command: JSON.stringify(run.command),
        limits: JSON.stringify(run.limits),
        replayOf: run.replayOf ?? null,
        createdAt,
      });
      return this.toRecord(this.statements.byId.get(run.id)!);
    })();
  }

  /**
   * Inserts the run unless the key was used at or after `notBefore`: the check and the insert are one
   * (immediate) transaction, so concurrent submissions with one key make one run. Returns the key's record
   * when it was already used (the caller compares the request hash), else the new run.
   */
  insertOnce(run: NewRun, createdAt: string, key: IdempotencyKey, notBefore: string): { run: RunRecord; existing?: undefined } | { existing: StoredKey } {
    return this.db.transaction(() => {
      const existing = this.idempotencyKeys.find(key.tenantId, key.key, notBefore);
      if (existing) return { existing };
      const inserted = this.insert(run, createdAt);
      this.idempotencyKeys.record(key, inserted.id, createdAt);
      return { run: inserted };
    }).immediate();
  }

  get(id: string): RunRecord | undefined {
    const row = this.statements.byId.get(id);
    return row && this.toRecord(row);
  }

  /** A run of this tenant; another tenant's run is indistinguishable from none. */
  getForTenant(tenantId: string, id: string): RunRecord | undefined {
    const row = this.statements.byTenantAndId.get(tenantId, id);
    return row && this.toRecord(row);
  }

  /**
   * The run's start, with what it starts on: set once, so a run's ref is that of the container it ran in.
   * `sandboxRef`: the sandbox's own note of where the run is running (null: none), what another server adopts it by.
   */
  markRunning(id: string, startedAt: string, snapshot: RunSnapshot, sandboxRef: string | null = null): boolean {
    return this.statements.markRunning.run(startedAt, snapshot.imageId, snapshot.dataSnapshotRef, sandboxRef, id).changes === 1;
  }

  /** What a pending run is waiting for (null: just its turn). */
  setStatusMessage(id: string, message: string | null): void {
    this.statements.setStatusMessage.run(message, id);
  }

  /** A row with its artifacts; a run that is not terminal has none yet. */
  private toRecord(row: RunRow): RunRecord {
    return toRecord(row, row.finished_at === null ? [] : this.artifacts.ofRun(row.id));
  }

  /** Records the terminal state once, with its artifacts; a run already terminal is left as it is (returns false). */
  complete(id: string, completion: RunCompletion): boolean {
    return this.db.transaction(() => {
      const completed = this.recordEnd(id, completion);
      const tenantId = completed && completion.artifacts.length > 0 ? this.statements.byId.get(id)?.tenant_id : undefined;
      if (tenantId) this.artifacts.insert(tenantId, id, completion.artifacts);
      return completed;
    })();
  }

  private recordEnd(id: string, completion: RunCompletion): boolean {
    const result = this.statements.complete.run({
      id,
      status: completion.status,
      exitCode: completion.exitCode,
      stdout: completion.stdout,
      stderr: completion.stderr,
      stdoutTruncated: completion.stdoutTruncated ? 1 : 0,
      stderrTruncated: completion.stderrTruncated ? 1 : 0,
      outputs: JSON.stringify(completion.outputs),
      errorCode: completion.error?.code ?? null,
      errorMessage: completion.error?.message ?? null,
      errorDetails: completion.error?.details ? JSON.stringify(completion.error.details) : null,
      durationSeconds: completion.durationSeconds,
      startedAt: completion.startedAt,
      finishedAt: completion.finishedAt,
      cpuSeconds: completion.usage.cpuSeconds,
      peakMemoryBytes: completion.usage.peakMemoryBytes,
      outputBytes: completion.usage.outputBytes,
      egress: completion.egress.length > 0 ? JSON.stringify(completion.egress) : null,
      outputsMatch: completion.outputsMatch === undefined || completion.outputsMatch === null ? null : completion.outputsMatch ? 1 : 0,
    });
    return result.changes === 1;
  }

  unfinished(): RunRecord[] {
    return this.statements.unfinished.all().map((row) => this.toRecord(row));
  }

  list(query: RunListQuery): RunRecord[] {
    const where = ['tenant_id = @tenantId'];
    if (query.projectName !== undefined) where.push('project_name = @projectName');
    if (query.status !== undefined) where.push('status = @status');
    if (query.beforeSeq !== undefined) where.push('seq < @beforeSeq');
    const sql = `SELECT * FROM runs WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT @limit`;
    return this.db
      .prepare<Record<string, unknown>, RunRow>(sql)
      .all({ tenantId: query.tenantId, projectName: query.projectName, status: query.status, beforeSeq: query.beforeSeq, limit: query.limit })
      .map((row) => this.toRecord(row));
  }

  /** CPU seconds of the tenant's runs that finished in [from, to) (ISO 8601 instants). */
  cpuSecondsBetween(tenantId: string, from: string, to: string): number {
    const row = this.db
      .prepare<[string, string, string], { total: number | null }>('SELECT SUM(cpu_seconds) AS total FROM runs WHERE tenant_id = ? AND finished_at >= ? AND finished_at < ?')
      .get(tenantId, from, to);
    return row?.total ?? 0;
  }

  countActiveForProject(projectId: string): number {
    const row = this.db
      .prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM runs WHERE project_id = ? AND status IN ('pending', 'running')")
      .get(projectId);
    return row?.n ?? 0;
  }
}
