// `sandrun tenants list|set-retention`: per-tenant settings, on the server's database directly. Declarations; actions/tenants.ts does them.
import { Command } from 'commander';
import { addJsonOption, type CliContext, type JsonFlag } from '../context.ts';

const actions = () => import('../actions/tenants.ts');

export function tenantsCommand(context: CliContext): Command {
  const tenants = new Command('tenants').description("tenants' settings (works on the server's database: SANDRUN_DATA_DIR)");

  addJsonOption(tenants.command('list').description('list tenants and their retention')).action(async (options: JsonFlag) => {
    await (await actions()).listTenants(context, options);
  });

  addJsonOption(
    tenants
      .command('set-retention')
      .description("days a tenant's finished runs keep their logs and outputs (their rows and usage stay); 'default' for the server's SANDRUN_RETENTION_DAYS")
      .argument('<tenant>', 'the tenant')
      .argument('<days>', "a whole number of days (0 purges at the next pass), or 'default'"),
  ).action(async (tenant: string, daysText: string, options: JsonFlag) => {
    await (await actions()).setRetention(context, tenant, daysText, options);
  });

  return tenants;
}
