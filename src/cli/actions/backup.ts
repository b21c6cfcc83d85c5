// What `sandrun backup PATH` does: an online copy of the server's SQLite database (works while the server runs).
import { backupArtifacts, backupDatabase } from '../../store/backup.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';

export interface BackupFlags extends JsonFlag {
  /** A directory for the runs' files (artifacts) the copy names; kept across backups (only new files are copied). */
  artifacts?: string;
}

export async function backup(context: CliContext, path: string, flags: BackupFlags): Promise<void> {
  await withStores(context, async (stores, config) => {
    const started = performance.now();
    const result = await backupDatabase(stores.database, path);
    const files = flags.artifacts === undefined ? undefined : await backupArtifacts(result.path, config.artifactsDir, flags.artifacts);
    const seconds = (performance.now() - started) / 1000;
    if (flags.json) return printJson(context, { path: result.path, pages: result.totalPages, seconds, ...(files ? { artifacts: files } : {}) });
    context.terminal.stdout.write(`backed up ${config.dataDir}/sandrun.db to ${result.path} (${result.totalPages} pages, ${seconds.toFixed(2)}s)\n`);
    if (files) {
      const missing = files.missing > 0 ? `; ${files.missing} named by the copy were gone (removed by retention meanwhile)` : '';
      context.terminal.stdout.write(`artifacts into ${files.dir}: ${files.copied} copied, ${files.present} there already${missing}\n`);
    }
  });
}
