// `sandrun audit`: the audit log (who did what), from the server's database directly. The declaration; actions/audit.ts does it.
import { Command } from 'commander';
import type { AuditFlags } from '../actions/audit.ts';
import { addJsonOption, type CliContext } from '../context.ts';

export function auditCommand(context: CliContext): Command {
  return addJsonOption(
    new Command('audit')
      .description("the audit log: mutating and denied calls (works on the server's database: SANDRUN_DATA_DIR)")
      .option('--tenant <tenant>', "only this tenant's entries (default: all, including calls no tenant could be named for)")
      .option('--limit <n>', 'at most this many entries', '50'),
  ).action(async (options: AuditFlags) => {
    await (await import('../actions/audit.ts')).showAudit(context, options);
  });
}
