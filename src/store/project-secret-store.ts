// A project's secrets (SPEC §10) as the database holds them: names, sealed values, when each was last set. Never plain text.
import type { Db, DialectKind } from './database.ts';

export interface ProjectSecretName {
  key: string;
  updatedAt: string;
}

export interface SealedProjectSecret {
  key: string;
  sealed: string;
}

export class ProjectSecretStore {
  constructor(
    private readonly db: Db,
    private readonly kind: DialectKind,
  ) {}

  /** The project's secret names, by key. */
  async names(tenantId: string, projectId: string): Promise<ProjectSecretName[]> {
    const rows = await this.db
      .selectFrom('project_secrets')
      .select(['key', 'updated_at'])
      .where('tenant_id', '=', tenantId)
      .where('project_id', '=', projectId)
      .orderBy('key')
      .execute();
    return rows.map((row) => ({ key: row.key, updatedAt: row.updated_at }));
  }

  /** Every secret of the project, sealed, by key (for the run flow, which opens them). */
  sealed(projectId: string): Promise<SealedProjectSecret[]> {
    return this.db.selectFrom('project_secrets').select(['key', 'sealed']).where('project_id', '=', projectId).orderBy('key').execute();
  }

  async has(tenantId: string, projectId: string, key: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('project_secrets')
      .select('key')
      .where('tenant_id', '=', tenantId)
      .where('project_id', '=', projectId)
      .where('key', '=', key)
      .executeTakeFirst();
    return row !== undefined;
  }

  async count(tenantId: string, projectId: string, trx: Db = this.db): Promise<number> {
    const row = await trx
      .selectFrom('project_secrets')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('project_id', '=', projectId)
      .executeTakeFirstOrThrow();
    return row.n;
  }

  /**
   * Sets (or replaces) one secret, unless it is new and the project has `maxPerProject` already: then nothing is written
   * and `full` says how many it has. The count and the write are one transaction, serialised per project (SQLite: the
   * one connection; PostgreSQL: the project's row locked), so concurrent sets never pass the limit together.
   */
  set(secret: { tenantId: string; projectId: string; key: string; sealed: string; at: string }, maxPerProject: number): Promise<{ created: boolean } | { full: number }> {
    return this.db.transaction().execute(async (trx) => {
      if (this.kind === 'postgres') await trx.selectFrom('projects').select('id').where('id', '=', secret.projectId).forUpdate().execute();
      const updated = await trx
        .updateTable('project_secrets')
        .set({ sealed: secret.sealed, updated_at: secret.at })
        .where('project_id', '=', secret.projectId)
        .where('key', '=', secret.key)
        .executeTakeFirst();
      if (updated.numUpdatedRows > 0n) return { created: false };
      const count = await this.count(secret.tenantId, secret.projectId, trx);
      if (count >= maxPerProject) return { full: count };
      await trx
        .insertInto('project_secrets')
        .values({ tenant_id: secret.tenantId, project_id: secret.projectId, key: secret.key, sealed: secret.sealed, updated_at: secret.at })
        .execute();
      return { created: true };
    });
  }

  /** Whether there was such a secret. */
  async remove(tenantId: string, projectId: string, key: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('project_secrets')
      .where('tenant_id', '=', tenantId)
      .where('project_id', '=', projectId)
      .where('key', '=', key)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
