// Tenants: created on first use (a token for a new tenant, or a JWT naming one).
import type { Db } from './database.ts';

export class TenantStore {
  constructor(private readonly db: Db) {}

  async ensure(tenantId: string, at: string): Promise<void> {
    await this.db
      .insertInto('tenants')
      .values({ id: tenantId, created_at: at })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .execute();
  }
}
