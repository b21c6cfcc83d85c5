// What `sandrun backup PATH` does: an online copy of the server's SQLite database (works while the server runs).
import { backupDatabase } from '../../store/backup.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';

export async function backup(context: CliContext, path: string, flags: JsonFlag): Promise<void> {
  await withStores(context, async (stores, config) => {
    const started = performance.now();
    const result = await backupDatabase(stores.db, path);
    const seconds = (performance.now() - started) / 1000;
    if (flags.json) printJson(context, { path: result.path, pages: result.totalPages, seconds });
    else context.terminal.stdout.write(`backed up ${config.dataDir}/sandrun.db to ${result.path} (${result.totalPages} pages, ${seconds.toFixed(2)}s)\n`);
  });
}
