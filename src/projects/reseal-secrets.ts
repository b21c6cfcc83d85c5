// Every sealed value of the database (repository credentials, project secrets, webhook secrets) opened with one key and sealed with another: the key's rotation.
import { SandrunError } from '../errors.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { StoreDatabase } from '../store/database.ts';
import { resealAll, type ResealCounts, type SealedValue } from '../store/sealed-values.ts';
import { webhookSealingContext } from '../webhooks/webhook-service.ts';
import { secretSealingContext } from './project-secrets.ts';
import { credentialSealingContext } from './repo-credential.ts';

/** All or nothing: one value the old key does not open (or the new one does not open again) and nothing changes. */
export function resealEverything(database: StoreDatabase, from: SecretBox, to: SecretBox): Promise<ResealCounts> {
  return resealAll(database, (value) => {
    const context = sealingContext(value);
    const plaintext = from.open(value.sealed, context);
    const sealed = to.seal(plaintext, context);
    if (to.open(sealed, context) !== plaintext) throw new SandrunError('internal', 'a value sealed with the new key did not open again; nothing was changed');
    return sealed;
  });
}

function sealingContext(value: SealedValue): string {
  switch (value.kind) {
    case 'credential':
      return credentialSealingContext(value.projectId);
    case 'secret':
      return secretSealingContext(value.projectId, value.key);
    case 'webhook':
      return webhookSealingContext(value.webhookId);
  }
}
