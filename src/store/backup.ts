// An online, consistent copy of the SQLite database (better-sqlite3's backup API), safe while the server is serving; PostgreSQL's is pg_dump's.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { copyFile, rename } from 'node:fs/promises';
import { blobPath } from '../artifacts/artifact-blobs.ts';
import { dirname, resolve } from 'node:path';
import { SandrunError } from '../errors.ts';
import type { StoreDatabase } from './database.ts';

export interface BackupResult {
  path: string;
  totalPages: number;
}

/**
 * Copies the database to `path` (which must not exist yet), page by page, without blocking writers for long.
 * A PostgreSQL database is refused: pg_dump, of the server's own version, is the tool for it (docs/decisions.md).
 */
export async function backupDatabase(database: StoreDatabase, path: string): Promise<BackupResult> {
  const db = database.sqlite;
  if (database.kind === 'postgres' || !db) {
    throw new SandrunError(
      'invalid_request',
      'SANDRUN_DATABASE_URL names a PostgreSQL database: back it up with pg_dump (pg_dump --format=custom --file=PATH "$SANDRUN_DATABASE_URL"); `sandrun backup` copies SQLite databases only',
    );
  }
  const target = resolve(path);
  if (existsSync(target)) throw new SandrunError('conflict', `${target} exists; choose a new file for the backup`);
  mkdirSync(dirname(target), { recursive: true });
  let totalPages = 0;
  await db.backup(target, {
    progress: ({ totalPages: total }) => {
      totalPages = total;
      return 200; // pages per step: small steps let the server's writes in between
    },
  });
  return { path: target, totalPages };
}

export interface ArtifactsBackupResult {
  dir: string;
  /** Files copied now; files the directory held already (a blob never changes, so a repeated backup copies only new ones). */
  copied: number;
  present: number;
  /** Named by the backup's rows but gone from the data directory (a retention pass removed them meanwhile). */
  missing: number;
}

/**
 * Copies into `targetDir` the artifact bytes that the database backup at `backupPath` names, from the server's blob
 * directory: after the database, so that every file a row of the backup names was stored before it.
 */
export async function backupArtifacts(backupPath: string, blobsDir: string, targetDir: string): Promise<ArtifactsBackupResult> {
  const copy = new Database(backupPath, { readonly: true });
  let hashes: string[];
  try {
    hashes = (copy.prepare('SELECT DISTINCT sha256 FROM run_artifacts').all() as Array<{ sha256: string }>).map((row) => row.sha256);
  } finally {
    copy.close();
  }
  const result: ArtifactsBackupResult = { dir: resolve(targetDir), copied: 0, present: 0, missing: 0 };
  for (const sha256 of hashes) {
    const target = blobPath(result.dir, sha256);
    if (existsSync(target)) {
      result.present += 1;
      continue;
    }
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    try {
      await copyFile(blobPath(blobsDir, sha256), `${target}.partial`);
      await rename(`${target}.partial`, target);
      result.copied += 1;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      result.missing += 1;
    }
  }
  return result;
}
