// API token records: only a hash of each secret is ever stored.
import type { Selectable } from 'kysely';
import type { Db } from './database.ts';
import { preparedRead } from './prepared-read.ts';
import type { TokenTable } from './schema.ts';

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

type TokenRow = Omit<Selectable<TokenTable>, 'secret_hash'>;

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

// Never the hash: what a token record shows.
const COLUMNS = ['id', 'tenant_id', 'name', 'scopes', 'created_at', 'expires_at', 'revoked_at', 'last_used_at'] as const;

export class TokenStore {
  private readonly byHashRead: (secretHash: string) => Promise<TokenRow[]>;

  constructor(private readonly db: Db) {
    // Every authenticated request asks it.
    this.byHashRead = preparedRead(db, 1, (secretHash) => db.selectFrom('tokens').select(COLUMNS).where('secret_hash', '=', secretHash));
  }

  async insert(token: Omit<TokenRecord, 'revokedAt' | 'lastUsedAt'> & { secretHash: string }): Promise<void> {
    await this.db
      .insertInto('tokens')
      .values({
        id: token.id,
        tenant_id: token.tenantId,
        name: token.name,
        secret_hash: token.secretHash,
        scopes: JSON.stringify(token.scopes),
        created_at: token.createdAt,
        expires_at: token.expiresAt,
      })
      .execute();
  }

  async byHash(secretHash: string): Promise<TokenRecord | undefined> {
    const [row] = await this.byHashRead(secretHash);
    return row && toRecord(row);
  }

  async byId(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async list(tenantId?: string): Promise<TokenRecord[]> {
    let select = this.db.selectFrom('tokens').select(COLUMNS);
    if (tenantId) select = select.where('tenant_id', '=', tenantId);
    const rows = await select.orderBy('created_at').execute();
    return rows.map(toRecord);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const result = await this.db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async markUsed(id: string, at: string): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
