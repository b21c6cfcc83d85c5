// Retention on the database: per-tenant retention days, purging old runs' logs and outputs in batches, giving freed pages back.
import { SandrunError } from '../errors.ts';
import type { Db } from './database.ts';

export interface TenantRetention {
  tenantId: string;
  /** null: the server's default. */
  retentionDays: number | null;
}

export class RetentionStore {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      tenants: db.prepare<[], { id: string; retention_days: number | null }>('SELECT id, retention_days FROM tenants ORDER BY id'),
      setRetention: db.prepare<[number | null, string]>('UPDATE tenants SET retention_days = ? WHERE id = ?'),
      // Terminal runs only (finished_at is set exactly then); the row keeps status, numbers and usage.
      toPurge: db.prepare<[string, string, number], { id: string }>('SELECT id FROM runs WHERE tenant_id = ? AND purged_at IS NULL AND finished_at < ? LIMIT ?'),
      purge: db.prepare<[string, string]>(`UPDATE runs SET stdout = '', stderr = '', outputs = '{}', purged_at = ? WHERE id = ?`),
      // Its artifacts' rows go with its data; their bytes, once no run names them, with the next sweep (artifact-blobs.ts).
      dropArtifacts: db.prepare<[string]>('DELETE FROM run_artifacts WHERE run_id = ?'),
      artifactReferenced: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM run_artifacts WHERE sha256 = ? LIMIT 1'),
      referenced: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM runs WHERE project_id = ? AND commit_sha = ? AND purged_at IS NULL LIMIT 1'),
    };
  }

  tenants(): TenantRetention[] {
    return this.statements.tenants.all().map((row) => ({ tenantId: row.id, retentionDays: row.retention_days }));
  }

  /** Sets (or, with null, clears) a tenant's own retention; 404 for an unknown tenant. */
  setRetention(tenantId: string, days: number | null): void {
    if (this.statements.setRetention.run(days, tenantId).changes === 0) throw new SandrunError('not_found', `tenant ${tenantId} not found`);
  }

  /** Empties logs, outputs and artifacts of up to `limit` of the tenant's runs finished before `before`; returns how many. */
  purgeBatch(tenantId: string, before: string, at: string, limit: number): number {
    return this.db.transaction(() => {
      const runs = this.statements.toPurge.all(tenantId, before, limit);
      for (const { id } of runs) {
        this.statements.purge.run(at, id);
        this.statements.dropArtifacts.run(id);
      }
      return runs.length;
    })();
  }

  /** Whether any run still keeps an artifact with these bytes. */
  isArtifactReferenced(sha256: string): boolean {
    return this.statements.artifactReferenced.get(sha256) !== undefined;
  }

  /** Whether a run that still has its data (or has not finished) uses this checkout. */
  isCheckoutReferenced(projectId: string, commitSha: string): boolean {
    return this.statements.referenced.get(projectId, commitSha) !== undefined;
  }

  /** Frees up to `pages` pages at the end of the file (incremental vacuum); returns the free pages left. */
  vacuumStep(pages: number): number {
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
    return this.db.pragma('freelist_count', { simple: true }) as number;
  }

  /** Writes the WAL back into the database file and truncates it, so the shrink shows on disk. */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}
