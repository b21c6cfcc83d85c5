// Environment records (SPEC §9): one per distinct environment key, its build's state, log tail and use.
import type { Selectable } from 'kysely';
import type { Db } from './database.ts';
import type { EnvironmentTable } from './schema.ts';

export type EnvironmentStatus = 'building' | 'ready' | 'failed';

export interface EnvironmentRecord {
  key: string;
  tenantId: string;
  tag: string;
  baseImage: string;
  status: EnvironmentStatus;
  log: string;
  errorMessage: string | null;
  imageId: string | null;
  sizeBytes: number | null;
  buildSeconds: number | null;
  startedAt: string;
  finishedAt: string | null;
  lastUsedAt: string;
}

type EnvironmentRow = Selectable<EnvironmentTable>;

function toRecord(row: EnvironmentRow): EnvironmentRecord {
  return {
    key: row.key,
    tenantId: row.tenant_id,
    tag: row.tag,
    baseImage: row.base_image,
    status: row.status,
    log: row.log,
    errorMessage: row.error_message,
    imageId: row.image_id,
    sizeBytes: row.size_bytes,
    buildSeconds: row.build_seconds,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    lastUsedAt: row.last_used_at,
  };
}

export class EnvironmentStore {
  constructor(private readonly db: Db) {}

  async get(key: string): Promise<EnvironmentRecord | undefined> {
    const row = await this.db.selectFrom('environments').selectAll().where('key', '=', key).executeTakeFirst();
    return row && toRecord(row);
  }

  /** A build of `key` begins (again): its earlier outcome is forgotten. */
  async start(key: string, tenantId: string, tag: string, baseImage: string, at: string): Promise<void> {
    await this.db
      .insertInto('environments')
      .values({ key, tenant_id: tenantId, tag, base_image: baseImage, status: 'building', log: '', started_at: at, last_used_at: at })
      .onConflict((conflict) =>
        conflict.column('key').doUpdateSet({
          status: 'building',
          log: '',
          error_message: null,
          image_id: null,
          size_bytes: null,
          build_seconds: null,
          started_at: at,
          finished_at: null,
          last_used_at: at,
        }),
      )
      .execute();
  }

  async finish(
    key: string,
    outcome: { status: 'ready' | 'failed'; log: string; errorMessage: string | null; imageId: string | null; sizeBytes: number | null; buildSeconds: number },
    at: string,
  ): Promise<void> {
    await this.db
      .updateTable('environments')
      .set({
        status: outcome.status,
        log: outcome.log,
        error_message: outcome.errorMessage,
        image_id: outcome.imageId,
        size_bytes: outcome.sizeBytes,
        build_seconds: outcome.buildSeconds,
        finished_at: at,
      })
      .where('key', '=', key)
      .execute();
  }

  async touch(key: string, at: string): Promise<void> {
    await this.db.updateTable('environments').set({ last_used_at: at }).where('key', '=', key).execute();
  }

  /** Environments no run has used since `before` (not being built). */
  async idleSince(before: string): Promise<EnvironmentRecord[]> {
    const rows = await this.db.selectFrom('environments').selectAll().where('last_used_at', '<', before).where('status', '!=', 'building').execute();
    return rows.map(toRecord);
  }

  /** The tenant's environments that are not being built, least recently used first. */
  async ofTenant(tenantId: string): Promise<EnvironmentRecord[]> {
    const rows = await this.db
      .selectFrom('environments')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('status', '!=', 'building')
      .orderBy('last_used_at')
      .execute();
    return rows.map(toRecord);
  }

  /** Builds a previous process left unfinished. */
  async building(): Promise<EnvironmentRecord[]> {
    const rows = await this.db.selectFrom('environments').selectAll().where('status', '=', 'building').execute();
    return rows.map(toRecord);
  }

  async remove(key: string): Promise<void> {
    await this.db.deleteFrom('environments').where('key', '=', key).execute();
  }
}
