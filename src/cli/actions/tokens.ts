// What `sandrun tokens create|list|revoke` do: API tokens, on the server's database directly.
import { tokenView } from '../../auth/token-admin.ts';
import { SandrunError } from '../../errors.ts';
import { usageError } from '../cli-error.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';
import { formatTable } from '../table.ts';
import { parseExpiry, parseScopes } from '../token-inputs.ts';

export interface CreateFlags extends JsonFlag {
  tenant: string;
  scopes: string;
  name?: string;
  expires?: string;
}

export interface ListFlags extends JsonFlag {
  tenant?: string;
}

export async function createToken(context: CliContext, options: CreateFlags): Promise<void> {
  const scopes = parseScopes(options.scopes);
  const expiresAt = options.expires === undefined ? null : parseExpiry(options.expires);
  const created = await withStores(context, async (stores) => {
    try {
      return await stores.apiTokens.create({ tenantId: options.tenant, scopes, name: options.name ?? null, expiresAt });
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
  context.terminal.stdout.write(
    [
      `created token ${record.id} for tenant ${record.tenantId}`,
      `  name:    ${record.name ?? context.terminal.colours.dim('(none)')}`,
      `  scopes:  ${record.scopes.join(', ')}`,
      `  expires: ${record.expiresAt ?? 'never'}`,
      'It is shown only this once; use it with: export SANDRUN_TOKEN=<token>',
      created.token,
    ].join('\n') + '\n',
  );
}

export async function listTokens(context: CliContext, options: ListFlags): Promise<void> {
  const records = await withStores(context, (stores) => stores.apiTokens.list(options.tenant));
  if (options.json) {
    printJson(context, { tokens: records.map(tokenView) });
    return;
  }
  if (records.length === 0) {
    context.terminal.stdout.write(`no tokens${options.tenant ? ` for tenant ${options.tenant}` : ''}\n`);
    return;
  }
  context.terminal.stdout.write(
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
}

export async function revokeToken(context: CliContext, id: string, options: JsonFlag): Promise<void> {
  const record = await withStores(context, async (stores) => {
    await stores.apiTokens.revoke(id);
    return (await stores.apiTokens.list()).find((token) => token.id === id);
  });
  if (options.json) printJson(context, record ? tokenView(record) : { id });
  else context.terminal.stdout.write(`revoked token ${id}\n`);
}
