// `sandrun tokens create|list|revoke`: API tokens, managed on the server's database directly.
import { Command } from 'commander';
import { SandrunError } from '../../errors.ts';
import { tokenView } from '../../auth/token-admin.ts';
import { usageError } from '../cli-error.ts';
import { addJsonOption, printJson, type CliContext, type JsonFlag } from '../context.ts';
import { parseExpiry, parseScopes } from '../inputs.ts';
import { withStores } from '../stores.ts';
import { formatTable } from '../table.ts';


export function tokensCommand(context: CliContext): Command {
  const tokens = new Command('tokens').description("API tokens (works on the server's database: SANDRUN_DATA_DIR)");
  const { stdout } = context.terminal;
  const { dim } = context.terminal.colours;

  addJsonOption(
    tokens
      .command('create')
      .description('create an API token (and the tenant, if new); prints the token as the last line, once')
      .requiredOption('--tenant <tenant>', 'the tenant the token acts for')
      .requiredOption('--scopes <scopes>', 'comma-separated: runs:read, runs:write, projects:read, projects:write, admin')
      .option('--name <name>', 'a label to recognise the token by')
      .option('--expires <duration>', 'lifetime, e.g. 30d, 12h, 45m (default: never expires)'),
  ).action((options: JsonFlag & { tenant: string; scopes: string; name?: string; expires?: string }) => {
    const scopes = parseScopes(options.scopes);
    const expiresAt = options.expires === undefined ? null : parseExpiry(options.expires);
    const created = withStores(context, (stores) => {
      try {
        return stores.apiTokens.create({ tenantId: options.tenant, scopes, name: options.name ?? null, expiresAt });
      } catch (error) {
        if (error instanceof SandrunError && error.code === 'invalid_request') throw usageError(error.message);
        throw error;
      }
    });
    if (options.json) {
      printJson(context, { ...tokenView(created.record), token: created.token });
      return;
    }
    const { record } = created;
    stdout.write(
      [
        `created token ${record.id} for tenant ${record.tenantId}`,
        `  name:    ${record.name ?? dim('(none)')}`,
        `  scopes:  ${record.scopes.join(', ')}`,
        `  expires: ${record.expiresAt ?? 'never'}`,
        'It is shown only this once; use it with: export SANDRUN_TOKEN=<token>',
        created.token,
      ].join('\n') + '\n',
    );
  });

  addJsonOption(tokens.command('list').description('list tokens (never their secrets)').option('--tenant <tenant>', "only this tenant's tokens")).action(
    (options: JsonFlag & { tenant?: string }) => {
      const records = withStores(context, (stores) => stores.apiTokens.list(options.tenant));
      if (options.json) {
        printJson(context, { tokens: records.map(tokenView) });
        return;
      }
      if (records.length === 0) {
        stdout.write(`no tokens${options.tenant ? ` for tenant ${options.tenant}` : ''}\n`);
        return;
      }
      stdout.write(
        formatTable(records, [
          { header: 'ID', value: (r) => r.id },
          { header: 'TENANT', value: (r) => r.tenantId },
          { header: 'NAME', value: (r) => r.name ?? '-' },
          { header: 'SCOPES', value: (r) => r.scopes.join(',') },
          { header: 'CREATED', value: (r) => r.createdAt },
          { header: 'EXPIRES', value: (r) => r.expiresAt ?? 'never' },
          { header: 'REVOKED', value: (r) => r.revokedAt ?? '-' },
          { header: 'LAST USED', value: (r) => r.lastUsedAt ?? 'never' },
        ]),
      );
    },
  );

  addJsonOption(tokens.command('revoke').description('revoke a token by its id').argument('<id>', 'the token id (from tokens list)')).action(
    (id: string, options: JsonFlag) => {
      const record = withStores(context, (stores) => {
        stores.apiTokens.revoke(id);
        return stores.apiTokens.list().find((token) => token.id === id);
      });
      if (options.json) printJson(context, record ? tokenView(record) : { id });
      else stdout.write(`revoked token ${id}\n`);
    },
  );

  return tokens;
}
