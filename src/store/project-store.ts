// Project records, always read and written within one tenant.
import type { Selectable } from 'kysely';
import { SandrunError } from '../errors.ts';
import { isUniqueViolation, withSqliteConnection, type Db, type StoreDatabase } from './database.ts';
import type { ProjectTable } from './schema.ts';

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

type ProjectRow = Selectable<ProjectTable>;

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
  private readonly db: Db;

  constructor(private readonly database: StoreDatabase) {
    this.db = database.db;
  }

  /** A second live project of the same name in the tenant is refused by the database (index projects_live_name). */
  async insert(project: Omit<ProjectRecord, 'refreshedAt'>): Promise<ProjectRecord> {
    const row = await this.db
      .insertInto('projects')
      .values({
        id: project.id,
        tenant_id: project.tenantId,
        name: project.name,
        repo_url: project.repoUrl,
        default_branch: project.defaultBranch,
        created_at: project.createdAt,
        refreshed_at: project.createdAt,
        credential_type: project.credential?.type ?? null,
        credential_sealed: project.credential?.sealed ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error: unknown) => {
        throw isUniqueViolation(error) ? new SandrunError('conflict', `project '${project.name}' already exists`, undefined, { cause: error }) : error;
      });
    return toRecord(row);
  }

  /**
   * Sets where the project's repository is and the credential it is fetched with. The old URL may have held a
   * token: on SQLite its bytes are zeroed in the file (secure_delete) and the WAL that still holds them is emptied
   * (PostgreSQL keeps the old row version until its vacuum; docs/operations.md says so).
   */
  async setRepository(id: string, repoUrl: string, credential: ProjectRecord['credential']): Promise<void> {
    const update = (db: Db) =>
      db.updateTable('projects').set({ repo_url: repoUrl, credential_type: credential?.type ?? null, credential_sealed: credential?.sealed ?? null }).where('id', '=', id).execute();
    if (this.database.kind === 'postgres') {
      await update(this.db);
      return;
    }
    await withSqliteConnection(this.database, async (raw, connection) => {
      const previous = raw.pragma('secure_delete', { simple: true }) as number;
      raw.pragma('secure_delete = ON');
      try {
        await update(connection);
      } finally {
        raw.pragma(`secure_delete = ${previous}`);
      }
      raw.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  async byName(tenantId: string, name: string): Promise<ProjectRecord | undefined> {
    const row = await this.db.selectFrom('projects').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
    return row && toRecord(row);
  }

  async list(tenantId: string): Promise<ProjectRecord[]> {
    const rows = await this.db.selectFrom('projects').selectAll().where('tenant_id', '=', tenantId).where('deleted_at', 'is', null).orderBy('name').execute();
    return rows.map(toRecord);
  }

  async listAll(): Promise<ProjectRecord[]> {
    const rows = await this.db.selectFrom('projects').selectAll().where('deleted_at', 'is', null).execute();
    return rows.map(toRecord);
  }

  async markRefreshed(id: string, at: string, defaultBranch: string): Promise<void> {
    await this.db.updateTable('projects').set({ refreshed_at: at, default_branch: defaultBranch }).where('id', '=', id).execute();
  }

  /** Runs keep pointing at a deleted project (their history stays); the name becomes free again; its secrets go with it. */
  async delete(id: string, at: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('projects').set({ deleted_at: at }).where('id', '=', id).execute();
      await trx.deleteFrom('project_secrets').where('project_id', '=', id).execute();
    });
  }
}
