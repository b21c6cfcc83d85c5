// API token records: only a hash of each secret is ever stored.
import type { Db } from './database.ts';

export interface TokenRecord {
  id: string;
  tenantId: string;
  name: string | null;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

interface TokenRow {
  id: string;
  tenant_id: string;
  name: string | null;
  scopes: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

const toRecord = (row: TokenRow): TokenRecord => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  scopes: JSON.parse(row.scopes) as string[],
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});

export class TokenStore {
  private readonly statements;

  constructor(db: Db) {
    const columns = 'id, tenant_id, name, scopes, created_at, expires_at, revoked_at, last_used_at';
    this.statements = {
      insert: db.prepare(`INSERT INTO tokens (id, tenant_id, name, secret_hash, scopes, created_at, expires_at)
        VALUES (@id, @tenantId, @name, @secretHash, @scopes, @createdAt, @expiresAt)`),
      byHash: db.prepare<[string], TokenRow>(`SELECT ${columns} FROM tokens WHERE secret_hash = ?`),
      byId: db.prepare<[string], TokenRow>(`SELECT ${columns} FROM tokens WHERE id = ?`),
      list: db.prepare<[], TokenRow>(`SELECT ${columns} FROM tokens ORDER BY created_at`),
      listForTenant: db.prepare<[string], TokenRow>(`SELECT ${columns} FROM tokens WHERE tenant_id = ? ORDER BY created_at`),
      revoke: db.prepare<[string, string]>('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      used: db.prepare<[string, string]>('UPDATE tokens SET last_used_at = ? WHERE id = ?'),
    };
  }

  insert(token: Omit<TokenRecord, 'revokedAt' | 'lastUsedAt'> & { secretHash: string }): void {
    this.statements.insert.run({ ...token, scopes: JSON.stringify(token.scopes) });
  }

  byHash(secretHash: string): TokenRecord | undefined {
    const row = this.statements.byHash.get(secretHash);
    return row && toRecord(row);
  }

  byId(id: string): TokenRecord | undefined {
    const row = this.statements.byId.get(id);
    return row && toRecord(row);
  }

  list(tenantId?: string): TokenRecord[] {
    return (tenantId ? this.statements.listForTenant.all(tenantId) : this.statements.list.all()).map(toRecord);
  }

  revoke(id: string, at: string): boolean {
    return this.statements.revoke.run(at, id).changes === 1;
  }

  markUsed(id: string, at: string): void {
    this.statements.used.run(at, id);
  }
}
