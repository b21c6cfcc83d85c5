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

interface KeyRow {
  tenant_id: string;
  key: string;
  request_hash: string;
  run_id: string;
  created_at: string;
}

export class IdempotencyKeys {
  private readonly statements;

  constructor(db: Db) {
    this.statements = {
      find: db.prepare<[string, string, string], KeyRow>('SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND created_at >= ?'),
      // An expired key is replaced: the 24 h window is over, so the key is free again.
      upsert: db.prepare(`INSERT INTO idempotency_keys (tenant_id, key, request_hash, run_id, created_at)
        VALUES (@tenantId, @key, @requestHash, @runId, @createdAt)
        ON CONFLICT(tenant_id, key) DO UPDATE SET request_hash = excluded.request_hash, run_id = excluded.run_id, created_at = excluded.created_at`),
      expire: db.prepare<[string]>('DELETE FROM idempotency_keys WHERE created_at < ?'),
    };
  }

  /** The key's record if it was used at or after `notBefore`. */
  find(tenantId: string, key: string, notBefore: string): StoredKey | undefined {
    const row = this.statements.find.get(tenantId, key, notBefore);
    return row && { tenantId: row.tenant_id, key: row.key, requestHash: row.request_hash, runId: row.run_id, createdAt: row.created_at };
  }

  /** Records the key; call inside the transaction that inserted the run. */
  record(key: IdempotencyKey, runId: string, createdAt: string): void {
    this.statements.upsert.run({ ...key, runId, createdAt });
  }

  /** Forgets keys used before `before`; returns how many. */
  expire(before: string): number {
    return this.statements.expire.run(before).changes;
  }
}
