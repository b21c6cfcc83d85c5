// `sandrun backup PATH`: an online copy of the server's SQLite database. The declaration; actions/backup.ts does it.
import { Command } from 'commander';
import { addJsonOption, type CliContext } from '../context.ts';
import type { BackupFlags } from '../actions/backup.ts';

export function backupCommand(context: CliContext): Command {
  return addJsonOption(
    new Command('backup')
      .description("copy the server's database (SANDRUN_DATA_DIR/sandrun.db) to PATH, consistently, while it serves")
      .argument('<path>', 'a new file for the copy')
      .option('--artifacts <dir>', "also copy the runs' files the copy names into DIR (files already there are kept: use the same DIR each time)"),
  ).action(async (path: string, flags: BackupFlags) => {
    await (await import('../actions/backup.ts')).backup(context, path, flags);
  });
}
