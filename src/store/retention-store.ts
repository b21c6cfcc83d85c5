// Retention on the database: per-tenant retention days, purging old runs' logs and outputs in batches, giving freed pages back.
import { SandrunError } from '../errors.ts';
import { withSqliteConnection, type Db, type StoreDatabase } from './database.ts';

export interface TenantRetention {
  tenantId: string;
  /** null: the server's default. */
  retentionDays: number | null;
}

export class RetentionStore {
  private readonly db: Db;

  constructor(private readonly database: StoreDatabase) {
    this.db = database.db;
  }

  async tenants(): Promise<TenantRetention[]> {
    const rows = await this.db.selectFrom('tenants').select(['id', 'retention_days']).orderBy('id').execute();
    return rows.map((row) => ({ tenantId: row.id, retentionDays: row.retention_days }));
  }

  /** Sets (or, with null, clears) a tenant's own retention; 404 for an unknown tenant. */
  async setRetention(tenantId: string, days: number | null): Promise<void> {
    const result = await this.db.updateTable('tenants').set({ retention_days: days }).where('id', '=', tenantId).executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw new SandrunError('not_found', `tenant ${tenantId} not found`);
  }

  /** Empties logs, outputs and artifacts of up to `limit` of the tenant's runs finished before `before`; returns how many. */
  purgeBatch(tenantId: string, before: string, at: string, limit: number): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      // Terminal runs only (finished_at is set exactly then); the row keeps status, numbers and usage.
      const runs = await trx
        .selectFrom('runs')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('purged_at', 'is', null)
        .where('finished_at', '<', before)
        .limit(limit)
        .execute();
      if (runs.length === 0) return 0;
      const ids = runs.map((run) => run.id);
      await trx.updateTable('runs').set({ stdout: '', stderr: '', outputs: '{}', purged_at: at }).where('id', 'in', ids).execute();
      // Its artifacts' rows go with its data; their bytes, once no run names them, with the next sweep (artifact-blobs.ts).
      await trx.deleteFrom('run_artifacts').where('run_id', 'in', ids).execute();
      return runs.length;
    });
  }

  /** Whether any run still keeps an artifact with these bytes. */
  async isArtifactReferenced(sha256: string): Promise<boolean> {
    const row = await this.db.selectFrom('run_artifacts').select('run_id').where('sha256', '=', sha256).limit(1).executeTakeFirst();
    return row !== undefined;
  }

  /** Whether a run that still has its data (or has not finished) uses this checkout. */
  async isCheckoutReferenced(projectId: string, commitSha: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('runs')
      .select('id')
      .where('project_id', '=', projectId)
      .where('commit_sha', '=', commitSha)
      .where('purged_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * SQLite: frees up to `pages` pages at the end of the file (incremental vacuum); returns the free pages left.
   * PostgreSQL reuses freed space itself (autovacuum): nothing to do, none left.
   */
  async vacuumStep(pages: number): Promise<number> {
    if (this.database.kind === 'postgres') return 0;
    return withSqliteConnection(this.database, (raw) => {
      raw.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
      return raw.pragma('freelist_count', { simple: true }) as number;
    });
  }

  /** SQLite: writes the WAL back into the database file and truncates it, so the shrink shows on disk. */
  async checkpoint(): Promise<void> {
    if (this.database.kind === 'postgres') return;
    await withSqliteConnection(this.database, (raw) => raw.pragma('wal_checkpoint(TRUNCATE)'));
  }
}
