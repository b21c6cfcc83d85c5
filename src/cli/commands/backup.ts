// `sandrun backup PATH`: an online copy of the server's SQLite database (works while the server runs).
import { Command } from 'commander';
import { loadConfig } from '../../config.ts';
import { errorMessage } from '../../errors.ts';
import { openStores } from '../../sandrun.ts';
import { backupDatabase } from '../../store/backup.ts';
import { usageError } from '../cli-error.ts';
import { addJsonOption, printJson, type CliContext, type JsonFlag } from '../context.ts';

export function backupCommand(context: CliContext): Command {
  return addJsonOption(
    new Command('backup')
      .description("copy the server's database (SANDRUN_DATA_DIR/sandrun.db) to PATH, consistently, while it serves")
      .argument('<path>', 'a new file for the copy'),
  ).action(async (path: string, flags: JsonFlag) => {
    let config;
    try {
      config = loadConfig(context.env);
    } catch (error) {
      throw usageError(errorMessage(error));
    }
    const stores = openStores(config);
    try {
      const started = performance.now();
      const result = await backupDatabase(stores.db, path);
      const seconds = (performance.now() - started) / 1000;
      if (flags.json) printJson(context, { path: result.path, pages: result.totalPages, seconds });
      else context.terminal.stdout.write(`backed up ${config.dataDir}/sandrun.db to ${result.path} (${result.totalPages} pages, ${seconds.toFixed(2)}s)\n`);
    } finally {
      stores.db.close();
    }
  });
}
