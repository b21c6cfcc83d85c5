// A run's artifacts (SPEC §12) in the database: one row per file, written with the run's end, read with the run.
import type { Artifact } from '../artifacts/artifact-types.ts';
import type { Db } from './database.ts';

interface ArtifactRow {
  path: string;
  size: number;
  sha256: string;
  content_type: string;
}

const toArtifact = (row: ArtifactRow): Artifact => ({ path: row.path, size: row.size, sha256: row.sha256, contentType: row.content_type });

export class ArtifactStore {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      insert: db.prepare<[string, string, string, number, string, string]>(
        'INSERT OR REPLACE INTO run_artifacts (tenant_id, run_id, path, size, sha256, content_type) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      // Sorted by byte order of the UTF-8 path (SQLite's BINARY collation), as the sandbox sorts them.
      ofRun: db.prepare<[string], ArtifactRow>('SELECT path, size, sha256, content_type FROM run_artifacts WHERE run_id = ? ORDER BY path'),
      one: db.prepare<[string, string, string], ArtifactRow>('SELECT path, size, sha256, content_type FROM run_artifacts WHERE tenant_id = ? AND run_id = ? AND path = ?'),
    };
  }

  /** Records a run's artifacts; called inside the transaction that records its end. */
  insert(tenantId: string, runId: string, artifacts: readonly Artifact[]): void {
    for (const artifact of artifacts) this.statements.insert.run(tenantId, runId, artifact.path, artifact.size, artifact.sha256, artifact.contentType);
  }

  ofRun(runId: string): Artifact[] {
    return this.statements.ofRun.all(runId).map(toArtifact);
  }

  /** One artifact of the tenant's run; another tenant's is indistinguishable from none. */
  find(tenantId: string, runId: string, path: string): Artifact | undefined {
    const row = this.statements.one.get(tenantId, runId, path);
    return row && toArtifact(row);
  }
}
