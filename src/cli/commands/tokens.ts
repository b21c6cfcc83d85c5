// `sandrun tokens create|list|revoke`: API tokens, managed on the server's database directly. Declarations; actions/tokens.ts does them.
import { Command } from 'commander';
import type { CreateFlags, ListFlags } from '../actions/tokens.ts';
import { addJsonOption, type CliContext, type JsonFlag } from '../context.ts';

const actions = () => import('../actions/tokens.ts');

export function tokensCommand(context: CliContext): Command {
  const tokens = new Command('tokens').description("API tokens (works on the server's database: SANDRUN_DATA_DIR)");

  addJsonOption(
    tokens
      .command('create')
      .description('create an API token (and the tenant, if new); prints the token as the last line, once')
      .requiredOption('--tenant <tenant>', 'the tenant the token acts for')
      .requiredOption('--scopes <scopes>', 'comma-separated: runs:read, runs:write, projects:read, projects:write, admin')
      .option('--name <name>', 'a label to recognise the token by')
      .option('--expires <duration>', 'lifetime, e.g. 30d, 12h, 45m (default: never expires)'),
  ).action(async (options: CreateFlags) => {
    await (await actions()).createToken(context, options);
  });

  addJsonOption(tokens.command('list').description('list tokens (never their secrets)').option('--tenant <tenant>', "only this tenant's tokens")).action(async (options: ListFlags) => {
    await (await actions()).listTokens(context, options);
  });

  addJsonOption(tokens.command('revoke').description('revoke a token by its id').argument('<id>', 'the token id (from tokens list)')).action(async (id: string, options: JsonFlag) => {
    await (await actions()).revokeToken(context, id, options);
  });

  return tokens;
}
