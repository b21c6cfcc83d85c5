// Project records, always read and written within one tenant.
import type { Db } from './database.ts';

export interface ProjectRecord {
  id: string;
  tenantId: string;
  name: string;
  repoUrl: string;
  defaultBranch: string;
  createdAt: string;
  refreshedAt: string;
  /** The repository credential's type and its sealed form (never plain text); null without one. */
  credential: { type: 'https_token' | 'ssh_key'; sealed: string } | null;
}

interface ProjectRow {
  id: string;
  tenant_id: string;
  name: string;
  repo_url: string;
  default_branch: string;
  created_at: string;
  refreshed_at: string;
  credential_type: 'https_token' | 'ssh_key' | null;
  credential_sealed: string | null;
}

const toRecord = (row: ProjectRow): ProjectRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  repoUrl: row.repo_url,
  defaultBranch: row.default_branch,
  createdAt: row.created_at,
  refreshedAt: row.refreshed_at,
  credential: row.credential_type && row.credential_sealed ? { type: row.credential_type, sealed: row.credential_sealed } : null,
});

export class ProjectStore {
  private readonly statements;

  constructor(private readonly db: Db) {
    this.statements = {
      insert: db.prepare(`INSERT INTO projects (id, tenant_id, name, repo_url, default_branch, created_at, refreshed_at, credential_type, credential_sealed)
        VALUES (@id, @tenantId, @name, @repoUrl, @defaultBranch, @createdAt, @createdAt, @credentialType, @credentialSealed)`),
      repository: db.prepare<[string, string | null, string | null, string]>('UPDATE projects SET repo_url = ?, credential_type = ?, credential_sealed = ? WHERE id = ?'),
      byName: db.prepare<[string, string], ProjectRow>('SELECT * FROM projects WHERE tenant_id = ? AND name = ? AND deleted_at IS NULL'),
      list: db.prepare<[string], ProjectRow>('SELECT * FROM projects WHERE tenant_id = ? AND deleted_at IS NULL ORDER BY name'),
      refreshed: db.prepare<[string, string, string]>('UPDATE projects SET refreshed_at = ?, default_branch = ? WHERE id = ?'),
      softDelete: db.prepare<[string, string]>('UPDATE projects SET deleted_at = ? WHERE id = ?'),
      deleteSecrets: db.prepare<[string]>('DELETE FROM project_secrets WHERE project_id = ?'),
      listAll: db.prepare<[], ProjectRow>('SELECT * FROM projects WHERE deleted_at IS NULL'),
    };
  }

  insert(project: Omit<ProjectRecord, 'refreshedAt'>): ProjectRecord {
    const { credential, ...fields } = project;
    this.statements.insert.run({ ...fields, credentialType: credential?.type ?? null, credentialSealed: credential?.sealed ?? null });
    return this.byName(project.tenantId, project.name)!;
  }

  /**
   * Sets where the project's repository is and the credential it is fetched with. The old URL may have held a
   * token: its bytes are zeroed in the file (secure_delete) and the WAL that still holds them is emptied.
   */
  setRepository(id: string, repoUrl: string, credential: ProjectRecord['credential']): void {
    const previous = this.db.pragma('secure_delete', { simple: true }) as number;
    this.db.pragma('secure_delete = ON');
    try {
      this.statements.repository.run(repoUrl, credential?.type ?? null, credential?.sealed ?? null, id);
    } finally {
      this.db.pragma(`secure_delete = ${previous}`);
    }
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  byName(tenantId: string, name: string): ProjectRecord | undefined {
    const row = this.statements.byName.get(tenantId, name);
    return row && toRecord(row);
  }

  list(tenantId: string): ProjectRecord[] {
    return this.statements.list.all(tenantId).map(toRecord);
  }

  listAll(): ProjectRecord[] {
    return this.statements.listAll.all().map(toRecord);
  }

  markRefreshed(id: string, at: string, defaultBranch: string): void {
    this.statements.refreshed.run(at, defaultBranch, id);
  }

  /** Runs keep pointing at a deleted project (their history stays); the name becomes free again; its secrets go with it. */
  delete(id: string, at: string): void {
    this.db.transaction(() => {
      this.statements.softDelete.run(at, id);
      this.statements.deleteSecrets.run(id);
    })();
  }
}
