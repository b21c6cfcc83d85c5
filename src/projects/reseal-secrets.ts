// Every sealed value of the database (repository credentials, project secrets) opened with one key and sealed with another: the key's rotation.
import { SandrunError } from '../errors.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import type { Db } from '../store/database.ts';
import { resealAll } from '../store/sealed-values.ts';
import { secretSealingContext } from './project-secrets.ts';
import { credentialSealingContext } from './repo-credential.ts';

/** All or nothing: one value the old key does not open (or the new one does not open again) and nothing changes. */
export function resealEverything(db: Db, from: SecretBox, to: SecretBox): { credentials: number; secrets: number } {
  return resealAll(db, (value) => {
    const context = value.kind === 'credential' ? credentialSealingContext(value.projectId) : secretSealingContext(value.projectId, value.key);
    const plaintext = from.open(value.sealed, context);
    const sealed = to.seal(plaintext, context);
    if (to.open(sealed, context) !== plaintext) throw new SandrunError('internal', 'a value sealed with the new key did not open again; nothing was changed');
    return sealed;
  });
}
