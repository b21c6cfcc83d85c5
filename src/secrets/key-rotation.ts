// Rotating the secrets key: where the old key is, where the new one goes, and the order that keeps a crash from losing either.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandrunError } from '../errors.ts';
import { SECRETS_KEY_FILE, SecretBox, parseSecretsKey } from './secret-box.ts';
import type { ResealCounts } from '../store/sealed-values.ts';

export interface KeyRotationInput {
  dataDir: string;
  /** SANDRUN_SECRETS_KEY: the key everything is sealed with now; undefined: the key file is. */
  configured: Buffer | undefined;
  /** SANDRUN_SECRETS_NEW_KEY, raw; required when the key is configured, else a random key is made. */
  replacement: string | undefined;
  /** Re-seals every value from one key to the other, all or nothing. */
  reseal: (from: SecretBox, to: SecretBox) => Promise<ResealCounts>;
}

export interface KeyRotationResult extends ResealCounts {
  /** The key file now holding the new key; null when the key comes from SANDRUN_SECRETS_KEY (the operator sets it). */
  keyFile: string | null;
}

/**
 * With a key file: the new key is written beside it first (`secrets.key.next`, 0600), the values are re-sealed in one
 * transaction, then the file is renamed over the old one. A crash after the commit leaves the new key in
 * `secrets.key.next`, never nowhere; a later rotation refuses to start until an operator has moved it into place.
 */
export async function rotateSecretsKey(input: KeyRotationInput): Promise<KeyRotationResult> {
  const replacement = input.replacement === undefined ? undefined : parseSecretsKey(input.replacement);
  // The value never appears in a message, like SANDRUN_SECRETS_KEY's.
  if (replacement === null) throw new SandrunError('invalid_request', 'SANDRUN_SECRETS_NEW_KEY must be 32 bytes, as 64 hex digits or base64');
  if (input.configured) {
    if (!replacement) throw new SandrunError('invalid_request', 'SANDRUN_SECRETS_KEY is set: give the new key in SANDRUN_SECRETS_NEW_KEY (32 bytes, 64 hex digits or base64)');
    if (replacement.equals(input.configured)) throw new SandrunError('invalid_request', 'SANDRUN_SECRETS_NEW_KEY is the same key as SANDRUN_SECRETS_KEY');
    return { ...(await input.reseal(new SecretBox(input.configured), new SecretBox(replacement))), keyFile: null };
  }
  const keyFile = join(input.dataDir, SECRETS_KEY_FILE);
  const nextFile = `${keyFile}.next`;
  if (existsSync(nextFile)) {
    throw new SandrunError('conflict', `${nextFile} exists: an earlier rotation stopped before it finished; if it reported nothing, the database is sealed with that key: move it over ${keyFile}`);
  }
  if (!existsSync(keyFile)) throw new SandrunError('invalid_request', `${keyFile} does not exist and SANDRUN_SECRETS_KEY is not set: there is no key to rotate (is SANDRUN_DATA_DIR right?)`);
  const current = parseSecretsKey(readFileSync(keyFile, 'utf8'));
  if (!current) throw new SandrunError('invalid_request', `${keyFile} does not hold a base64 or hex 32-byte key`);
  const next = replacement ?? randomBytes(32);
  if (next.equals(current)) throw new SandrunError('invalid_request', `SANDRUN_SECRETS_NEW_KEY is the key ${keyFile} already holds`);
  writeFileSync(nextFile, `${next.toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  let counts;
  try {
    counts = await input.reseal(new SecretBox(current), new SecretBox(next));
  } catch (error) {
    rmSync(nextFile, { force: true }); // rolled back: the old key still opens everything
    throw error;
  }
  renameSync(nextFile, keyFile);
  return { ...counts, keyFile };
}
