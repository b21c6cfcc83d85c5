// What `sandrun audit` does: the audit log (who did what), read from the server's database directly, newest first.
import { z } from 'zod';
import { AuditLog, auditEntryView } from '../../audit/audit-log.ts';
import { usageError } from '../cli-error.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';
import { formatTable } from '../table.ts';

export interface AuditFlags extends JsonFlag {
  tenant?: string;
  limit: string;
}

const limitSchema = z.coerce.number().int().min(1).max(10_000);

export async function showAudit(context: CliContext, options: AuditFlags): Promise<void> {
  const limit = limitSchema.safeParse(options.limit);
  if (!limit.success) throw usageError(`--limit must be a whole number from 1 to 10000 (got '${options.limit}')`);
  const entries = await withStores(context, async (stores) => (await new AuditLog(stores.audit).list(options.tenant, { limit: limit.data })).entries.map(auditEntryView));
  if (options.json) return printJson(context, { entries });
  if (entries.length === 0) return void context.terminal.stdout.write('no audit entries\n');
  context.terminal.stdout.write(
    formatTable(entries, [
      { header: 'AT', value: (e) => e.at },
      { header: 'TENANT', value: (e) => e.tenant ?? '-' },
      { header: 'CREDENTIAL', value: (e) => e.credential_id ?? '-' },
      { header: 'ACTION', value: (e) => e.action },
      { header: 'TARGET', value: (e) => e.target ?? '-' },
      { header: 'STATUS', value: (e) => `${e.status} ${e.outcome}${e.error_code ? ` (${e.error_code})` : ''}` },
      { header: 'FROM', value: (e) => e.source_address ?? '-' },
    ]),
  );
}
