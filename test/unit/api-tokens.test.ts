// API tokens remember when they were last used, in the database, at most once a minute per token.
import { describe, expect, it } from 'vitest';
import { ApiTokens, LAST_USED_RESOLUTION_MS } from '../../src/auth/api-tokens.ts';
import { openDatabase } from '../../src/store/database.ts';
import { TenantStore } from '../../src/store/tenant-store.ts';
import { TokenStore } from '../../src/store/token-store.ts';

describe('last_used_at', () => {
  it('is null until the token is used, then the time of its use, rewritten at most once a minute', async () => {
    const database = await openDatabase({ kind: 'sqlite', file: ':memory:' });
    let now = new Date('2026-11-30T10:00:00.000Z');
    const tokens = new ApiTokens(new TokenStore(database.db), new TenantStore(database.db), () => now);
    const { token, record } = await tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    const lastUsed = async () => (await tokens.list('acme')).find((entry) => entry.id === record.id)!.lastUsedAt;
    expect(await lastUsed(), 'never used').toBeNull();

    await tokens.verify(token);
    expect(await lastUsed()).toBe('2026-11-30T10:00:00.000Z');
    now = new Date(now.getTime() + LAST_USED_RESOLUTION_MS - 1);
    await tokens.verify(token);
    expect(await lastUsed(), 'within the minute: not written again').toBe('2026-11-30T10:00:00.000Z');
    now = new Date(now.getTime() + 1);
    await tokens.verify(token);
    expect(await lastUsed(), 'a minute later').toBe('2026-11-30T10:01:00.000Z');
    await database.close();
  });

  it('is not touched by a failed verification', async () => {
    const database = await openDatabase({ kind: 'sqlite', file: ':memory:' });
    const tokens = new ApiTokens(new TokenStore(database.db), new TenantStore(database.db));
    const { token, record } = await tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    await tokens.revoke(record.id);
    await expect(tokens.verify(token)).rejects.toThrow(/revoked/);
    expect((await tokens.list('acme'))[0]!.lastUsedAt).toBeNull();
    await database.close();
  });
});
