// A project's secrets (SPEC §10) as the database holds them: names, sealed values, when each was last set. Never plain text.
import type { Db } from './database.ts';

export interface ProjectSecretName {
  key: string;
  updatedAt: string;
}

export interface SealedProjectSecret {
  key: string;
  sealed: string;
}

interface NameRow {
  key: string;
  updated_at: string;
}

export class ProjectSecretStore {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      names: db.prepare<[string, string], NameRow>('SELECT key, updated_at FROM project_secrets WHERE tenant_id = ? AND project_id = ? ORDER BY key'),
      sealed: db.prepare<[string], SealedProjectSecret>('SELECT key, sealed FROM project_secrets WHERE project_id = ? ORDER BY key'),
      exists: db.prepare<[string, string, string], { found: 1 }>('SELECT 1 AS found FROM project_secrets WHERE tenant_id = ? AND project_id = ? AND key = ?'),
      count: db.prepare<[string, string], { n: number }>('SELECT COUNT(*) AS n FROM project_secrets WHERE tenant_id = ? AND project_id = ?'),
      upsert: db.prepare(`INSERT INTO project_secrets (tenant_id, project_id, key, sealed, updated_at) VALUES (@tenantId, @projectId, @key, @sealed, @at)
        ON CONFLICT (project_id, key) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`),
      remove: db.prepare<[string, string, string]>('DELETE FROM project_secrets WHERE tenant_id = ? AND project_id = ? AND key = ?'),
    };
  }

  /** The project's secret names, by key. */
  names(tenantId: string, projectId: string): ProjectSecretName[] {
    return this.statements.names.all(tenantId, projectId).map((row) => ({ key: row.key, updatedAt: row.updated_at }));
  }

  /** Every secret of the project, sealed, by key (for the run flow, which opens them). */
  sealed(projectId: string): SealedProjectSecret[] {
    return this.statements.sealed.all(projectId);
  }

  has(tenantId: string, projectId: string, key: string): boolean {
    return this.statements.exists.get(tenantId, projectId, key) !== undefined;
  }

  count(tenantId: string, projectId: string): number {
    return this.statements.count.get(tenantId, projectId)!.n;
  }

  /** Sets (or replaces) one secret; whether it was new. */
  set(secret: { tenantId: string; projectId: string; key: string; sealed: string; at: string }): { created: boolean } {
    return this.db.transaction(() => {
      const created = !this.has(secret.tenantId, secret.projectId, secret.key);
      this.statements.upsert.run(secret);
      return { created };
    })();
  }

  /** Whether there was such a secret. */
  remove(tenantId: string, projectId: string, key: string): boolean {
    return this.statements.remove.run(tenantId, projectId, key).changes > 0;
  }
}
