// Sealing at rest (SPEC §10): AES-256-GCM round trips, binds its context, detects tampering, and keeps its key file private.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { SecretBox, loadSecretsKey, parseSecretsKey } from '../../src/secrets/secret-box.ts';

const key = Buffer.alloc(32, 7);

describe('SecretBox', () => {
  it('opens what it sealed, and the sealed form holds no plain text', () => {
    const box = new SecretBox(key);
    const sealed = box.seal('ghp_plaintext-token', 'project-credential:p1');
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain('plaintext');
    expect(box.seal('ghp_plaintext-token', 'project-credential:p1'), 'a fresh IV each time').not.toBe(sealed);
    expect(box.open(sealed, 'project-credential:p1')).toBe('ghp_plaintext-token');
  });

  it('refuses to open under another context, another key, or after tampering', () => {
    const sealed = new SecretBox(key).seal('token', 'project-credential:p1');
    expect(() => new SecretBox(key).open(sealed, 'project-credential:p2')).toThrow(/does not decrypt with the current secrets key/);
    expect(() => new SecretBox(Buffer.alloc(32, 8)).open(sealed, 'project-credential:p1')).toThrow(/does not decrypt/);
    const parts = sealed.split('.');
    const ciphertext = Buffer.from(parts[3]!, 'base64url');
    ciphertext[0] = ciphertext[0]! ^ 1;
    expect(() => new SecretBox(key).open([...parts.slice(0, 3), ciphertext.toString('base64url')].join('.'), 'project-credential:p1')).toThrow(/does not decrypt/);
  });
});

describe('the secrets key', () => {
  it('SANDRUN_SECRETS_KEY is 32 bytes as hex or base64; anything else is refused without echoing it', () => {
    expect(parseSecretsKey('ab'.repeat(32))).toEqual(Buffer.alloc(32, 0xab));
    expect(parseSecretsKey(key.toString('base64'))).toEqual(key);
    expect(parseSecretsKey('too-short')).toBeNull();
    expect(loadConfig({ SANDRUN_SECRETS_KEY: key.toString('base64') }).secretsKey).toEqual(key);
    expect(() => loadConfig({ SANDRUN_SECRETS_KEY: 'hunter2-not-a-key' })).toThrow(/^invalid configuration: SANDRUN_SECRETS_KEY: must be 32 bytes, as 64 hex digits or base64$/);
  });

  it('without it, a key file is made in the data directory with mode 0600 at first start, and read after', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-secrets-'));
    try {
      const first = loadSecretsKey(dataDir, undefined);
      const file = join(dataDir, 'secrets.key');
      expect((statSync(file).mode & 0o777).toString(8), 'key file mode').toBe('600');
      expect(loadSecretsKey(dataDir, undefined), 'the same key on the next start').toEqual(first);
      expect(readFileSync(file, 'utf8').trim()).toBe(first.toString('base64'));
      expect(loadSecretsKey(dataDir, key), 'a configured key wins').toEqual(key);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
