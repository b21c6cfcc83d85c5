// `sandrun backup PATH`: an online copy of the server's SQLite database (works while the server runs).
import { Command } from 'commander';
import { backupDatabase } from '../../store/backup.ts';
import { addJsonOption, printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';

export function backupCommand(context: CliContext): Command {
  return addJsonOption(
    new Command('backup')
      .description("copy the server's database (SANDRUN_DATA_DIR/sandrun.db) to PATH, consistently, while it serves")
      .argument('<path>', 'a new file for the copy'),
  ).action(async (path: string, flags: JsonFlag) => {
    await withStores(context, async (stores, config) => {
      const started = performance.now();
      const result = await backupDatabase(stores.db, path);
      const seconds = (performance.now() - started) / 1000;
      if (flags.json) printJson(context, { path: result.path, pages: result.totalPages, seconds });
      else context.terminal.stdout.write(`backed up ${config.dataDir}/sandrun.db to ${result.path} (${result.totalPages} pages, ${seconds.toFixed(2)}s)\n`);
    });
  });
}
