// Run records: insert with a gapless per-project number, state transitions, tenant-scoped reads.
import { sql, type Selectable } from 'kysely';
import type { Db, DialectKind } from './database.ts';
import type { RunTable } from './schema.ts';
import type { RunLimits } from '../run-limits.ts';
import type { RunStatus } from '../run-status.ts';
import { IdempotencyKeys, type IdempotencyKey, type StoredKey } from './idempotency-keys.ts';
import type { EgressUsage } from '../egress/egress-ledger.ts';
import type { Artifact } from '../artifacts/artifact-types.ts';
import { preparedRead } from './prepared-read.ts';
import { unfinished } from './unfinished.ts';
import { ArtifactStore, artifactsColumn, artifactsFromJson } from './artifact-store.ts';
import { countQueue, RunSlotStore, type Admission } from './run-slots.ts';

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
  /** When a cancel was asked of it on a server that did not hold it (SPEC §13): a server taking it over cancels it. */
  cancelRequestedAt: string | null;
  /** The files it left under /outputs (SPEC §12), sorted by path; empty once purged. */
  artifacts: Artifact[];
}

export type NewRun = Pick<
  RunRecord,
  'id' | 'tenantId' | 'projectId' | 'projectName' | 'scope' | 'modelName' | 'branch' | 'commitSha' | 'parameters' | 'image' | 'command' | 'limits' | 'warning'
> & {
  replayOf?: string | null;
  /** The server that accepts it (servers.id); null on SQLite's single server. */
  serverId?: string | null;
};

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

type RunRow = Selectable<RunTable>;

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
    cancelRequestedAt: row.cancel_requested_at,
    artifacts,
  };
}

/**
 * What a reaper leaves alone: the ids of unfinished runs other servers answer for, and the sandbox notes of every
 * unfinished run, this server's own included (a warm container is labelled with its pool slot, not its run, and one
 * of a run being taken over is not yet held by the sandbox).
 */
export interface RunsElsewhere {
  runIds: ReadonlySet<string>;
  sandboxRefs: readonly string[];
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
  readonly idempotencyKeys: IdempotencyKeys;
  readonly artifacts: ArtifactStore;
  readonly slots: RunSlotStore;
  /** A run's poll asks it, hundreds of times a second: the run with its artifacts, in one round trip. */
  private readonly runOfTenantRead;

  constructor(
    private readonly db: Db,
    private readonly kind: DialectKind,
  ) {
    this.idempotencyKeys = new IdempotencyKeys(db);
    this.artifacts = new ArtifactStore(db);
    this.slots = new RunSlotStore(db, kind);
    this.runOfTenantRead = preparedRead(db, 2, (tenantId, id) =>
      db.selectFrom('runs').selectAll().select((eb) => artifactsColumn(eb, kind)).where('tenant_id', '=', tenantId).where('id', '=', id),
    );
  }

  /**
   * Inserts a pending run with the project's next number, atomically: no gap, no repeat. `admit` (several servers):
   * decides on the service's queue counts, taken under the queue lock in the same transaction (run-slots.ts).
   */
  insert(run: NewRun, createdAt: string, admit?: Admission): Promise<RunRecord> {
    return this.db.transaction().execute(async (trx) => {
      if (admit) admit(await countQueue(trx, this.kind, run.tenantId));
      return this.insertIn(trx, run, createdAt);
    });
  }

  /**
   * The project's counter is taken with an UPDATE, whose row lock holds every other insert for the project (in this
   * process or another server) until this transaction ends: numbers come out in commit order, and a rollback gives its
   * number back with it.
   */
  private async insertIn(trx: Db, run: NewRun, createdAt: string): Promise<RunRecord> {
    const numbered = await trx
      .updateTable('projects')
      .set((eb) => ({ next_run_number: eb('next_run_number', '+', 1) }))
      .where('id', '=', run.projectId)
      .returning(sql<number>`next_run_number - 1`.as('run_number'))
      .executeTakeFirst();
    if (!numbered) throw new Error(`project ${run.projectId} does not exist`);
    const row = await trx
      .insertInto('runs')
      .values({
        id: run.id,
        tenant_id: run.tenantId,
        project_id: run.projectId,
        project_name: run.projectName,
        run_number: numbered.run_number,
        scope: run.scope,
        model_name: run.modelName,
        branch: run.branch,
        commit_sha: run.commitSha,
        parameters: JSON.stringify(run.parameters),
        image: run.image,
        command: JSON.stringify(run.command),
        limits: JSON.stringify(run.limits),
        warning: run.warning,
        status: 'pending',
        created_at: createdAt,
        replay_of: run.replayOf ?? null,
        server_id: run.serverId ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row, []);
  }

  /**
   * Inserts the run unless the key was used at or after `notBefore`: the check and the insert are one transaction,
   * serialised per key (SQLite: the one connection; PostgreSQL: a transaction-scoped advisory lock on the key, which
   * servers sharing the database all take), so concurrent submissions with one key make one run. Returns the key's
   * record when it was already used (the caller compares the request hash), else the new run.
   */
  insertOnce(
    run: NewRun,
    createdAt: string,
    key: IdempotencyKey,
    notBefore: string,
    admit?: Admission,
  ): Promise<{ run: RunRecord; existing?: undefined } | { existing: StoredKey }> {
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${key.tenantId}\n${key.key}`}, 0))`.execute(trx);
      const existing = await this.idempotencyKeys.find(key.tenantId, key.key, notBefore, trx);
      if (existing) return { existing };
      if (admit) admit(await countQueue(trx, this.kind, run.tenantId));
      const inserted = await this.insertIn(trx, run, createdAt);
      await this.idempotencyKeys.record(key, inserted.id, createdAt, trx);
      return { run: inserted };
    });
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const row = await this.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row && this.toRecord(row);
  }

  /** The run a run replays (null for any other run), without reading its logs and outputs. */
  async replayOf(id: string): Promise<string | null> {
    const row = await this.db.selectFrom('runs').select('replay_of').where('id', '=', id).executeTakeFirst();
    return row?.replay_of ?? null;
  }

  /** A run of this tenant; another tenant's run is indistinguishable from none. */
  async getForTenant(tenantId: string, id: string): Promise<RunRecord | undefined> {
    const [row] = await this.runOfTenantRead(tenantId, id);
    return row && toRecord(row, row.finished_at === null ? [] : artifactsFromJson(row.artifacts_json));
  }

  /**
   * The run's start, with what it starts on: set once, so a run's ref is that of the container it ran in.
   * `sandboxRef`: the sandbox's own note of where the run is running (null: none), what another server adopts it by.
   */
  async markRunning(id: string, startedAt: string, snapshot: RunSnapshot, sandboxRef: string | null = null): Promise<boolean> {
    const result = await this.db
      .updateTable('runs')
      .set({ status: 'running', started_at: startedAt, image_id: snapshot.imageId, data_snapshot_ref: snapshot.dataSnapshotRef, sandbox_ref: sandboxRef, status_message: null })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** What a pending run is waiting for (null: just its turn). */
  async setStatusMessage(id: string, message: string | null): Promise<void> {
    await this.db.updateTable('runs').set({ status_message: message }).where('id', '=', id).where('status', '=', 'pending').execute();
  }

  /** A row with its artifacts; a run that is not terminal has none yet. */
  private async toRecord(row: RunRow): Promise<RunRecord> {
    return toRecord(row, row.finished_at === null ? [] : await this.artifacts.ofRun(row.id));
  }

  /** Records the terminal state once, with its artifacts; a run already terminal is left as it is (returns false). */
  complete(id: string, completion: RunCompletion): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const ended = await this.recordEnd(trx, id, completion);
      if (ended && completion.artifacts.length > 0) await this.artifacts.insert(ended.tenant_id, id, completion.artifacts, trx);
      return ended !== undefined;
    });
  }

  /** The terminal state, written only over a pending or running run (another writer's end wins: it is not written again). */
  private recordEnd(trx: Db, id: string, completion: RunCompletion): Promise<{ tenant_id: string } | undefined> {
    return trx
      .updateTable('runs')
      .set((eb) => ({
        status: completion.status,
        exit_code: completion.exitCode,
        stdout: completion.stdout,
        stderr: completion.stderr,
        stdout_truncated: completion.stdoutTruncated ? 1 : 0,
        stderr_truncated: completion.stderrTruncated ? 1 : 0,
        outputs: JSON.stringify(completion.outputs),
        error_code: completion.error?.code ?? null,
        error_message: completion.error?.message ?? null,
        error_details: completion.error?.details ? JSON.stringify(completion.error.details) : null,
        status_message: null,
        duration_seconds: completion.durationSeconds,
        started_at: completion.startedAt === null ? eb.ref('started_at') : completion.startedAt,
        finished_at: completion.finishedAt,
        cpu_seconds: completion.usage.cpuSeconds,
        peak_memory_bytes: completion.usage.peakMemoryBytes,
        output_bytes: completion.usage.outputBytes,
        egress: completion.egress.length > 0 ? JSON.stringify(completion.egress) : null,
        outputs_match: completion.outputsMatch === undefined || completion.outputsMatch === null ? null : completion.outputsMatch ? 1 : 0,
      }))
      .where('id', '=', id)
      .where(unfinished())
      .returning('tenant_id')
      .executeTakeFirst();
  }

  async unfinished(): Promise<RunRecord[]> {
    const rows = await this.db.selectFrom('runs').selectAll().where(unfinished()).orderBy('seq').execute();
    return Promise.all(rows.map((row) => this.toRecord(row)));
  }

  /**
   * Takes the unfinished runs of `fromServers` (dead or stopped ones), and of no server (rows from before servers were
   * recorded), for `serverId`, in one UPDATE: its row locks make a second taker's recheck of `server_id` fail, so no
   * run goes to two servers. `runId`: only that run.
   */
  async claim(serverId: string, fromServers: readonly string[], runId?: string): Promise<RunRecord[]> {
    let update = this.db
      .updateTable('runs')
      .set({ server_id: serverId })
      .where(unfinished())
      .where((eb) => (fromServers.length > 0 ? eb.or([eb('server_id', 'is', null), eb('server_id', 'in', fromServers)]) : eb('server_id', 'is', null)));
    if (runId !== undefined) update = update.where('id', '=', runId);
    const rows = await update.returningAll().execute();
    return Promise.all(rows.sort((a, b) => a.seq - b.seq).map((row) => this.toRecord(row)));
  }

  /** Notes a cancel asked of an unfinished run, for whichever server carries it on (its own may be dead). */
  async requestCancel(id: string, at: string): Promise<void> {
    await this.db.updateTable('runs').set({ cancel_requested_at: at }).where('id', '=', id).where(unfinished()).execute();
  }

  /** The reaper's view of unfinished runs (RunsElsewhere); `serverId` null: one server answers for all (SQLite). */
  async unfinishedForReaper(serverId: string | null): Promise<RunsElsewhere> {
    const rows = await this.db.selectFrom('runs').select(['id', 'sandbox_ref', 'server_id']).where(unfinished()).execute();
    const others = serverId === null ? [] : rows.filter((row) => row.server_id !== serverId);
    return { runIds: new Set(others.map((row) => row.id)), sandboxRefs: rows.flatMap((row) => (row.sandbox_ref === null ? [] : [row.sandbox_ref])) };
  }

  async list(query: RunListQuery): Promise<RunRecord[]> {
    let select = this.db.selectFrom('runs').selectAll().where('tenant_id', '=', query.tenantId);
    if (query.projectName !== undefined) select = select.where('project_name', '=', query.projectName);
    if (query.status !== undefined) select = select.where('status', '=', query.status);
    if (query.beforeSeq !== undefined) select = select.where('seq', '<', query.beforeSeq);
    const rows = await select.orderBy('seq', 'desc').limit(query.limit).execute();
    return Promise.all(rows.map((row) => this.toRecord(row)));
  }

  /** CPU seconds of the tenant's runs that finished in [from, to) (ISO 8601 instants). */
  async cpuSecondsBetween(tenantId: string, from: string, to: string): Promise<number> {
    const row = await this.db
      .selectFrom('runs')
      .select((eb) => eb.fn.sum<number | null>('cpu_seconds').as('total'))
      .where('tenant_id', '=', tenantId)
      .where('finished_at', '>=', from)
      .where('finished_at', '<', to)
      .executeTakeFirst();
    return row?.total ?? 0;
  }

  async countActiveForProject(projectId: string): Promise<number> {
    const row = await this.db
      .selectFrom('runs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', '=', projectId)
      .where(unfinished())
      .executeTakeFirst();
    return row?.n ?? 0;
  }
}
