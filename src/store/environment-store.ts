// Environment records (SPEC §9): one per distinct environment key, its build's state, log tail and use.
import type { Db } from './database.ts';

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

interface EnvironmentRow {
  key: string;
  tenant_id: string;
  tag: string;
  base_image: string;
  status: EnvironmentStatus;
  log: string;
  error_message: string | null;
  image_id: string | null;
  size_bytes: number | null;
  build_seconds: number | null;
  started_at: string;
  finished_at: string | null;
  last_used_at: string;
}

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
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      get: db.prepare<[string], EnvironmentRow>('SELECT * FROM environments WHERE key = ?'),
      start: db.prepare(`INSERT INTO environments (key, tenant_id, tag, base_image, status, log, started_at, last_used_at)
        VALUES (@key, @tenantId, @tag, @baseImage, 'building', '', @at, @at)
        ON CONFLICT (key) DO UPDATE SET status = 'building', log = '', error_message = NULL, image_id = NULL, size_bytes = NULL,
        build_seconds = NULL, started_at = @at, finished_at = NULL, last_used_at = @at`),
      finish: db.prepare(`UPDATE environments SET status = @status, log = @log, error_message = @errorMessage, image_id = @imageId,
        size_bytes = @sizeBytes, build_seconds = @buildSeconds, finished_at = @at WHERE key = @key`),
      touch: db.prepare<[string, string]>('UPDATE environments SET last_used_at = ? WHERE key = ?'),
      idle: db.prepare<[string], EnvironmentRow>("SELECT * FROM environments WHERE last_used_at < ? AND status != 'building'"),
      building: db.prepare<[], EnvironmentRow>("SELECT * FROM environments WHERE status = 'building'"),
      remove: db.prepare<[string]>('DELETE FROM environments WHERE key = ?'),
      ofTenant: db.prepare<[string], EnvironmentRow>("SELECT * FROM environments WHERE tenant_id = ? AND status != 'building' ORDER BY last_used_at"),
    };
  }

  get(key: string): EnvironmentRecord | undefined {
    const row = this.statements.get.get(key);
    return row && toRecord(row);
  }

  /** A build of `key` begins (again): its earlier outcome is forgotten. */
  start(key: string, tenantId: string, tag: string, baseImage: string, at: string): void {
    this.statements.start.run({ key, tenantId, tag, baseImage, at });
  }

  finish(
    key: string,
    outcome: { status: 'ready' | 'failed'; log: string; errorMessage: string | null; imageId: string | null; sizeBytes: number | null; buildSeconds: number },
    at: string,
  ): void {
    this.statements.finish.run({ key, ...outcome, at });
  }

  touch(key: string, at: string): void {
    this.statements.touch.run(at, key);
  }

  /** Environments no run has used since `before` (not being built). */
  idleSince(before: string): EnvironmentRecord[] {
    return this.statements.idle.all(before).map(toRecord);
  }

  /** The tenant's environments that are not being built, least recently used first. */
  ofTenant(tenantId: string): EnvironmentRecord[] {
    return this.statements.ofTenant.all(tenantId).map(toRecord);
  }

  /** Builds a previous process left unfinished. */
  building(): EnvironmentRecord[] {
    return this.statements.building.all().map(toRecord);
  }

  remove(key: string): void {
    this.statements.remove.run(key);
  }
}
