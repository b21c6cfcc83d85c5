// Encryption at rest for what tenants entrust to sandrun (repository credentials, later secrets): AES-256-GCM with one server key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandrunError } from '../errors.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
export const SECRETS_KEY_FILE = 'secrets.key';

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new SandrunError('internal', `the secrets key must be ${KEY_BYTES} bytes, got ${key.length}`);
  }

  /**
   * `v1.<iv>.<tag>.<ciphertext>` (base64url). `context` (e.g. "project-credential:<id>") is bound as associated data:
   * a sealed value copied to another row does not open there.
   */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
  }

  open(sealed: string, context: string): string {
    const [version, iv, tag, ciphertext, ...rest] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined || rest.length > 0) {
      throw new SandrunError('internal', 'a stored secret is not in a format this server reads');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new SandrunError('internal', 'a stored secret does not decrypt with the current secrets key (was SANDRUN_SECRETS_KEY or the key file changed?)', undefined, {
        cause: error,
      });
    }
  }
}

/** SANDRUN_SECRETS_KEY's value: 64 hex digits or base64 of 32 bytes; null when it is neither. */
export function parseSecretsKey(value: string): Buffer | null {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const bytes = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  return bytes.length === KEY_BYTES ? bytes : null;
}

/**
 * The configured key, or the one in `<dataDir>/secrets.key`, made (random, mode 0600) when the server first starts.
 * Whoever has the data directory but not this file (a database backup) cannot read what is sealed.
 */
export function loadSecretsKey(dataDir: string, configured: Buffer | undefined): Buffer {
  if (configured) return configured;
  const file = join(dataDir, SECRETS_KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    writeFileSync(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // made before, or by another process just now
  }
  const key = parseSecretsKey(readFileSync(file, 'utf8'));
  if (!key) throw new SandrunError('invalid_request', `invalid configuration: ${file} does not hold a base64 or hex ${KEY_BYTES}-byte key`);
  return key;
}
