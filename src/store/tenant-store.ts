// Tenants: created on first use (a token for a new tenant, or a JWT naming one).
import type { Db } from './database.ts';

export class TenantStore {
  private readonly ensureStatement;

  constructor(db: Db) {
    this.ensureStatement = db.prepare<[string, string]>('INSERT INTO tenants (id, created_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING');
  }

  ensure(tenantId: string, at: string): void {
    this.ensureStatement.run(tenantId, at);
  }
}
