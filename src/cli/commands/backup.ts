// `sandrun backup PATH`: an online copy of the server's SQLite database. The declaration; actions/backup.ts does it.
import { Command } from 'commander';
import { addJsonOption, type CliContext, type JsonFlag } from '../context.ts';

export function backupCommand(context: CliContext): Command {
  return addJsonOption(
    new Command('backup')
      .description("copy the server's database (SANDRUN_DATA_DIR/sandrun.db) to PATH, consistently, while it serves")
      .argument('<path>', 'a new file for the copy'),
  ).action(async (path: string, flags: JsonFlag) => {
    await (await import('../actions/backup.ts')).backup(context, path, flags);
  });
}
