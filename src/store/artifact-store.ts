// A run's artifacts (SPEC §12) in the database: one row per file, written with the run's end, read with the run.
import type { ExpressionBuilder } from 'kysely';
import { jsonArrayFrom as postgresJsonArray } from 'kysely/helpers/postgres';
import { jsonArrayFrom as sqliteJsonArray } from 'kysely/helpers/sqlite';
import type { Artifact } from '../artifacts/artifact-types.ts';
import type { Db, DialectKind } from './database.ts';
import { preparedRead } from './prepared-read.ts';
import type { Schema } from './schema.ts';

interface ArtifactRow {
  path: string;
  size: number;
  sha256: string;
  content_type: string;
}

const toArtifact = (row: ArtifactRow): Artifact => ({ path: row.path, size: row.size, sha256: row.sha256, contentType: row.content_type });

const COLUMNS = ['path', 'size', 'sha256', 'content_type'] as const;

/**
 * A run's artifacts as one JSON array column of a query on `runs` (a run and its artifacts in one round trip): read
 * it back with `artifactsFromJson`.
 */
export function artifactsColumn(eb: ExpressionBuilder<Schema, 'runs'>, kind: DialectKind) {
  const rows = eb.selectFrom('run_artifacts').select(COLUMNS).whereRef('run_artifacts.run_id', '=', 'runs.id');
  return (kind === 'postgres' ? postgresJsonArray(rows) : sqliteJsonArray(rows)).as('artifacts_json');
}

/** The column `artifactsColumn` made: JSON text on SQLite, already parsed on PostgreSQL; in path order. */
export function artifactsFromJson(value: unknown): Artifact[] {
  const rows = (typeof value === 'string' ? JSON.parse(value) : value) as ArtifactRow[];
  // By the bytes of the path, as the query on its own orders them (SQLite's BINARY collation, the column's "C" one on PostgreSQL).
  return rows.map(toArtifact).sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

const INSERT_CHUNK = 1000;

export class ArtifactStore {
  private readonly ofRunRead;

  constructor(private readonly db: Db) {
    this.ofRunRead = preparedRead(db, 1, (runId) => db.selectFrom('run_artifacts').select(COLUMNS).where('run_id', '=', runId).orderBy('path'));
  }

  /** Records a run's artifacts; called inside the transaction that records its end. */
  async insert(tenantId: string, runId: string, artifacts: readonly Artifact[], trx: Db = this.db): Promise<void> {
    // In chunks: one statement may carry only so many parameters (SQLite 32,766, PostgreSQL 65,535).
    for (let from = 0; from < artifacts.length; from += INSERT_CHUNK) await this.insertChunk(trx, tenantId, runId, artifacts.slice(from, from + INSERT_CHUNK));
  }

  private async insertChunk(trx: Db, tenantId: string, runId: string, artifacts: readonly Artifact[]): Promise<void> {
    await trx
      .insertInto('run_artifacts')
      .values(artifacts.map((artifact) => ({ tenant_id: tenantId, run_id: runId, path: artifact.path, size: artifact.size, sha256: artifact.sha256, content_type: artifact.contentType })))
      .onConflict((conflict) =>
        conflict.columns(['run_id', 'path']).doUpdateSet((eb) => ({
          tenant_id: eb.ref('excluded.tenant_id'),
          size: eb.ref('excluded.size'),
          sha256: eb.ref('excluded.sha256'),
          content_type: eb.ref('excluded.content_type'),
        })),
      )
      .execute();
  }

  /** Sorted by byte order of the UTF-8 path (SQLite's BINARY collation; PostgreSQL's column is COLLATE "C"), as the sandbox sorts them. */
  ofRun(runId: string): Promise<Artifact[]> {
    return this.ofRunRead(runId).then((rows) => rows.map(toArtifact));
  }

  /** One artifact of the tenant's run; another tenant's is indistinguishable from none. */
  async find(tenantId: string, runId: string, path: string): Promise<Artifact | undefined> {
    const row = await this.db
      .selectFrom('run_artifacts')
      .select(['path', 'size', 'sha256', 'content_type'])
      .where('tenant_id', '=', tenantId)
      .where('run_id', '=', runId)
      .where('path', '=', path)
      .executeTakeFirst();
    return row && toArtifact(row);
  }
}
