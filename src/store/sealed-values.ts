// Every value the database holds sealed (repository credentials, project secrets, webhook secrets), re-sealed in one transaction: the secrets key's rotation.
import { withSqliteConnection, type Db, type StoreDatabase } from './database.ts';

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
 * On SQLite the old ciphertexts are zeroed in the file (secure_delete) and the WAL holding them is emptied, so a copy
 * of the database taken afterwards holds nothing the old key opens (PostgreSQL: old row versions stay until vacuumed).
 */
export async function resealAll(database: StoreDatabase, reseal: (value: SealedValue) => string): Promise<ResealCounts> {
  if (database.kind === 'postgres') return database.db.transaction().execute((trx) => resealIn(trx, reseal));
  return withSqliteConnection(database, async (raw, connection) => {
    const previous = raw.pragma('secure_delete', { simple: true }) as number;
    raw.pragma('secure_delete = ON');
    try {
      const counts = await connection.transaction().execute((trx) => resealIn(trx, reseal));
      raw.pragma('wal_checkpoint(TRUNCATE)');
      return counts;
    } finally {
      raw.pragma(`secure_delete = ${previous}`);
    }
  });
}

async function resealIn(trx: Db, reseal: (value: SealedValue) => string): Promise<ResealCounts> {
  const credentials = await trx.selectFrom('projects').select(['id', 'credential_sealed']).where('credential_sealed', 'is not', null).execute();
  for (const row of credentials) {
    await trx
      .updateTable('projects')
      .set({ credential_sealed: reseal({ kind: 'credential', projectId: row.id, sealed: row.credential_sealed! }) })
      .where('id', '=', row.id)
      .execute();
  }
  const secrets = await trx.selectFrom('project_secrets').select(['project_id', 'key', 'sealed']).execute();
  for (const row of secrets) {
    await trx
      .updateTable('project_secrets')
      .set({ sealed: reseal({ kind: 'secret', projectId: row.project_id, key: row.key, sealed: row.sealed }) })
      .where('project_id', '=', row.project_id)
      .where('key', '=', row.key)
      .execute();
  }
  const webhooks = await trx.selectFrom('webhooks').select(['id', 'secret_sealed']).execute();
  for (const row of webhooks) {
    await trx
      .updateTable('webhooks')
      .set({ secret_sealed: reseal({ kind: 'webhook', webhookId: row.id, sealed: row.secret_sealed }) })
      .where('id', '=', row.id)
      .execute();
  }
  return { credentials: credentials.length, secrets: secrets.length, webhookSecrets: webhooks.length };
}
