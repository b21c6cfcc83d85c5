// Idempotency keys of run submissions: per tenant, a key names one run and the hash of the request that made it.
import type { Db } from './database.ts';

export interface IdempotencyKey {
  tenantId: string;
  key: string;
  /** SHA-256 of the canonical request body. */
  requestHash: string;
}

export interface StoredKey extends IdempotencyKey {
  runId: string;
  createdAt: string;
}

export class IdempotencyKeys {
  constructor(private readonly db: Db) {}

  /** The key's record if it was used at or after `notBefore` (`trx`: inside the transaction that may insert the run). */
  async find(tenantId: string, key: string, notBefore: string, trx: Db = this.db): Promise<StoredKey | undefined> {
    const row = await trx
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .where('created_at', '>=', notBefore)
      .executeTakeFirst();
    return row && { tenantId: row.tenant_id, key: row.key, requestHash: row.request_hash, runId: row.run_id, createdAt: row.created_at };
  }

  /** Records the key; call inside the transaction that inserted the run. An expired key is replaced: its 24 h window is over. */
  async record(key: IdempotencyKey, runId: string, createdAt: string, trx: Db = this.db): Promise<void> {
    await trx
      .insertInto('idempotency_keys')
      .values({ tenant_id: key.tenantId, key: key.key, request_hash: key.requestHash, run_id: runId, created_at: createdAt })
      .onConflict((conflict) =>
        conflict.columns(['tenant_id', 'key']).doUpdateSet((eb) => ({
          request_hash: eb.ref('excluded.request_hash'),
          run_id: eb.ref('excluded.run_id'),
          created_at: eb.ref('excluded.created_at'),
        })),
      )
      .execute();
  }

  /** Forgets keys used before `before`; returns how many. */
  async expire(before: string): Promise<number> {
    const result = await this.db.deleteFrom('idempotency_keys').where('created_at', '<', before).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
