// What `sandrun secrets rotate-key` does: every sealed value of the server's database re-sealed with a new secrets key (the server stopped).
import { resealEverything } from '../../projects/reseal-secrets.ts';
import { rotateSecretsKey } from '../../secrets/key-rotation.ts';
import { printJson, type CliContext, type JsonFlag } from '../context.ts';
import { withStores } from '../stores.ts';

export async function rotateKey(context: CliContext, flags: JsonFlag): Promise<void> {
  await withStores(context, async (stores, config) => {
    const result = await rotateSecretsKey({
      dataDir: config.dataDir,
      configured: config.secretsKey,
      replacement: context.env.SANDRUN_SECRETS_NEW_KEY,
      reseal: (from, to) => resealEverything(stores.database, from, to),
    });
    if (flags.json) return printJson(context, { credentials: result.credentials, secrets: result.secrets, webhook_secrets: result.webhookSecrets, key_file: result.keyFile });
    const where = result.keyFile ? `the new key is in ${result.keyFile}` : 'now set SANDRUN_SECRETS_KEY to the value of SANDRUN_SECRETS_NEW_KEY before the server starts again';
    context.terminal.stdout.write(`re-sealed ${result.credentials} repository credential(s), ${result.secrets} secret(s) and ${result.webhookSecrets} webhook secret(s); ${where}\n`);
  });
}
