// `sandrun tenants list|set-retention`: per-tenant settings, on the server's database directly.
import { Command } from 'commander';
import { z } from 'zod';
import { usageError } from '../cli-error.ts';
import { addJsonOption, printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';
import { formatTable } from '../table.ts';

const daysSchema = z.union([z.literal('default').transform(() => null), z.coerce.number().int().min(0).max(36_500)]);

export function tenantsCommand(context: CliContext): Command {
  const tenants = new Command('tenants').description("tenants' settings (works on the server's database: SANDRUN_DATA_DIR)");
  const { stdout } = context.terminal;

  addJsonOption(tenants.command('list').description('list tenants and their retention')).action((options: JsonFlag) => {
    const rows = withStores(context, (stores, config) => stores.retention.tenants().map((tenant) => ({ tenant: tenant.tenantId, retention_days: tenant.retentionDays, effective_retention_days: tenant.retentionDays ?? config.retentionDays })));
    if (options.json) return printJson(context, { tenants: rows });
    stdout.write(rows.length ? formatTable(rows, [
      { header: 'TENANT', value: (r) => r.tenant },
      { header: 'RETENTION (DAYS)', value: (r) => (r.retention_days === null ? `${r.effective_retention_days} (default)` : String(r.retention_days)) },
    ]) : 'no tenants\n');
  });

  addJsonOption(
    tenants
      .command('set-retention')
      .description("days a tenant's finished runs keep their logs and outputs (their rows and usage stay); 'default' for the server's SANDRUN_RETENTION_DAYS")
      .argument('<tenant>', 'the tenant')
      .argument('<days>', "a whole number of days (0 purges at the next pass), or 'default'"),
  ).action((tenant: string, daysText: string, options: JsonFlag) => {
    const parsed = daysSchema.safeParse(daysText);
    if (!parsed.success) throw usageError(`days must be a whole number from 0 to 36500, or 'default' (got '${daysText}')`);
    const days = parsed.data;
    const effective = withStores(context, (stores, config) => {
      stores.retention.setRetention(tenant, days);
      return days ?? config.retentionDays;
    });
    if (options.json) printJson(context, { tenant, retention_days: days, effective_retention_days: effective });
    else stdout.write(`tenant ${tenant} keeps run logs and outputs for ${effective} day(s)${days === null ? ' (the server default)' : ''}\n`);
  });

  return tenants;
}
