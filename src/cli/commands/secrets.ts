// `sandrun secrets set|list|rm|rotate-key`: a project's secrets over the REST API, and the secrets key's rotation on the database. Declarations; actions/ do them.
import { Command } from 'commander';
import { addHttpOptions, addJsonOption, type CliContext, type HttpFlags, type JsonFlag } from '../context.ts';

const actions = () => import('../actions/secrets.ts');

export function secretsCommand(context: CliContext): Command {
  const secrets = new Command('secrets').description("a project's secrets: files at /run/secrets/KEY in its runs; values are never shown");

  addHttpOptions(
    secrets
      .command('set')
      .description('set a secret from standard input (one trailing newline is dropped); not from a terminal')
      .argument('<project>')
      .argument('<key>', 'the name: an upper-case letter, then upper-case letters, digits and _ (at most 64)'),
  ).action(async (project: string, key: string, flags: HttpFlags) => {
    await (await actions()).setSecret(context, project, key, flags);
  });

  addHttpOptions(secrets.command('list').description("a project's secrets: names and when each was set").argument('<project>')).action(async (project: string, flags: HttpFlags) => {
    await (await actions()).listSecrets(context, project, flags);
  });

  addHttpOptions(secrets.command('rm').description('remove a secret').argument('<project>').argument('<key>')).action(async (project: string, key: string, flags: HttpFlags) => {
    await (await actions()).removeSecret(context, project, key, flags);
  });

  addJsonOption(
    secrets
      .command('rotate-key')
      .description(
        "re-seal every secret and repository credential with a new secrets key, on the server's database (SANDRUN_DATA_DIR), with the server stopped. " +
          'With SANDRUN_SECRETS_KEY set, the new key comes from SANDRUN_SECRETS_NEW_KEY; with the key file, a new random key (or SANDRUN_SECRETS_NEW_KEY) replaces it',
      ),
  ).action(async (flags: JsonFlag) => {
    await (await import('../actions/secrets-rotate.ts')).rotateKey(context, flags);
  });

  return secrets;
}
