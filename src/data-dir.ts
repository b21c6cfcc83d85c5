// The data directory holds tenants' code, parameters and database: only the server's user may enter it.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from './errors.ts';

/** Owner only. Runs still see their checkout and inputs: the engine resolves bind mounts as root, and inside the
 * container the mount is entered at its own root, never through these directories. */
export const DATA_DIR_MODE = 0o700;

/** What lives under the data directory and holds tenants' data (checkouts, mirrors, per-run inputs, artifacts). */
export const PRIVATE_SUBDIRS = ['runs', 'checkouts', 'mirrors', 'artifacts'] as const;

/**
 * Makes the data directory and its tenant-data directories (creating them when absent) mode 0700, also when an
 * earlier version or an operator's mkdir left them readable by others. A directory the server cannot chmod (another
 * user owns it) is reported, not fatal: the operator is told what to fix.
 */
export function secureDataDir(dataDir: string, logger: Logger): void {
  for (const dir of [dataDir, ...PRIVATE_SUBDIRS.map((name) => join(dataDir, name))]) {
    mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
    const mode = statSync(dir).mode & 0o777;
    if (mode === DATA_DIR_MODE) continue;
    try {
      chmodSync(dir, DATA_DIR_MODE);
    } catch (error) {
      logger.warn({ dir, mode: mode.toString(8), err: errorMessage(error) }, 'could not make a data directory private (mode 0700): other users of this host may read tenants\' code and parameters');
    }
  }
}
