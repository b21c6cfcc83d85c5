// What `sandrun tenants list|set-retention` do: per-tenant settings, on the server's database directly.
import { z } from 'zod';
import { usageError } from '../cli-error.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';
import { formatTable } from '../table.ts';

const daysSchema = z.union([z.literal('default').transform(() => null), z.coerce.number().int().min(0).max(36_500)]);

export async function listTenants(context: CliContext, options: JsonFlag): Promise<void> {
  const rows = await withStores(context, async (stores, config) => (await stores.retention.tenants()).map((tenant) => ({ tenant: tenant.tenantId, retention_days: tenant.retentionDays, effective_retention_days: tenant.retentionDays ?? config.retentionDays })));
  if (options.json) return printJson(context, { tenants: rows });
  context.terminal.stdout.write(rows.length ? formatTable(rows, [
    { header: 'TENANT', value: (r) => r.tenant },
    { header: 'RETENTION (DAYS)', value: (r) => (r.retention_days === null ? `${r.effective_retention_days} (default)` : String(r.retention_days)) },
  ]) : 'no tenants\n');
}

export async function setRetention(context: CliContext, tenant: string, daysText: string, options: JsonFlag): Promise<void> {
  const parsed = daysSchema.safeParse(daysText);
  if (!parsed.success) throw usageError(`days must be a whole number from 0 to 36500, or 'default' (got '${daysText}')`);
  const days = parsed.data;
  const effective = await withStores(context, async (stores, config) => {
    await stores.retention.setRetention(tenant, days);
    return days ?? config.retentionDays;
  });
  if (options.json) printJson(context, { tenant, retention_days: days, effective_retention_days: effective });
  else context.terminal.stdout.write(`tenant ${tenant} keeps run logs and outputs for ${effective} day(s)${days === null ? ' (the server default)' : ''}\n`);
}
