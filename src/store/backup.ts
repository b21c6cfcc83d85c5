// An online, consistent copy of the SQLite database (better-sqlite3's backup API), safe while the server is serving.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SandrunError } from '../errors.ts';
import type { Db } from './database.ts';

export interface BackupResult {
  path: string;
  totalPages: number;
}

/** Copies the database to `path` (which must not exist yet), page by page, without blocking writers for long. */
export async function backupDatabase(db: Db, path: string): Promise<BackupResult> {
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
