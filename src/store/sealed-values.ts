// Every value the database holds sealed (repository credentials, project secrets, webhook secrets), re-sealed in one transaction: the secrets key's rotation.
import type { Db } from './database.ts';

/** One sealed value and where it lives: a project's repository credential or one of its secrets. */
export type SealedValue =
  | { kind: 'credential'; projectId: string; sealed: string }
  | { kind: 'secret'; projectId: string; key: string; sealed: string }
  | { kind: 'webhook'; webhookId: string; sealed: string };

export interface ResealCounts {
  credentials: number;
  secrets: number;
  webhookSecrets: number;
}

/**
 * Replaces each sealed value with what `reseal` makes of it, all or nothing (a throw rolls every change back).
 * The old ciphertexts are zeroed in the file (secure_delete) and the WAL holding them is emptied, so a copy of the
 * database taken afterwards holds nothing the old key opens.
 */
export function resealAll(db: Db, reseal: (value: SealedValue) => string): ResealCounts {
  const credentials = db.prepare<[], { id: string; credential_sealed: string }>('SELECT id, credential_sealed FROM projects WHERE credential_sealed IS NOT NULL');
  const secrets = db.prepare<[], { project_id: string; key: string; sealed: string }>('SELECT project_id, key, sealed FROM project_secrets');
  const updateCredential = db.prepare<[string, string]>('UPDATE projects SET credential_sealed = ? WHERE id = ?');
  const updateSecret = db.prepare<[string, string, string]>('UPDATE project_secrets SET sealed = ? WHERE project_id = ? AND key = ?');
  const webhooks = db.prepare<[], { id: string; secret_sealed: string }>('SELECT id, secret_sealed FROM webhooks');
  const updateWebhook = db.prepare<[string, string]>('UPDATE webhooks SET secret_sealed = ? WHERE id = ?');
  const previous = db.pragma('secure_delete', { simple: true }) as number;
  db.pragma('secure_delete = ON');
  try {
    const counts = db.transaction(() => {
      let credentialCount = 0;
      let secretCount = 0;
      for (const row of credentials.all()) {
        updateCredential.run(reseal({ kind: 'credential', projectId: row.id, sealed: row.credential_sealed }), row.id);
        credentialCount += 1;
      }
      for (const row of secrets.all()) {
        updateSecret.run(reseal({ kind: 'secret', projectId: row.project_id, key: row.key, sealed: row.sealed }), row.project_id, row.key);
        secretCount += 1;
      }
      let webhookCount = 0;
      for (const row of webhooks.all()) {
        updateWebhook.run(reseal({ kind: 'webhook', webhookId: row.id, sealed: row.secret_sealed }), row.id);
        webhookCount += 1;
      }
      return { credentials: credentialCount, secrets: secretCount, webhookSecrets: webhookCount };
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    return counts;
  } finally {
    db.pragma(`secure_delete = ${previous}`);
  }
}
