// API tokens remember when they were last used, in the database, at most once a minute per token.
import { describe, expect, it } from 'vitest';
import { ApiTokens, LAST_USED_RESOLUTION_MS } from '../../src/auth/api-tokens.ts';
import { openDatabase } from '../../src/store/database.ts';
import { TenantStore } from '../../src/store/tenant-store.ts';
import { TokenStore } from '../../src/store/token-store.ts';

describe('last_used_at', () => {
  it('is null until the token is used, then the time of its use, rewritten at most once a minute', () => {
    const db = openDatabase(':memory:');
    let now = new Date('2026-11-30T10:00:00.000Z');
    const tokens = new ApiTokens(new TokenStore(db), new TenantStore(db), () => now);
    const { token, record } = tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    const lastUsed = () => tokens.list('acme').find((entry) => entry.id === record.id)!.lastUsedAt;
    expect(lastUsed(), 'never used').toBeNull();

    tokens.verify(token);
    expect(lastUsed()).toBe('2026-11-30T10:00:00.000Z');
    now = new Date(now.getTime() + LAST_USED_RESOLUTION_MS - 1);
    tokens.verify(token);
    expect(lastUsed(), 'within the minute: not written again').toBe('2026-11-30T10:00:00.000Z');
    now = new Date(now.getTime() + 1);
    tokens.verify(token);
    expect(lastUsed(), 'a minute later').toBe('2026-11-30T10:01:00.000Z');
    db.close();
  });

  it('is not touched by a failed verification', () => {
    const db = openDatabase(':memory:');
    const tokens = new ApiTokens(new TokenStore(db), new TenantStore(db));
    const { token, record } = tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    tokens.revoke(record.id);
    expect(() => tokens.verify(token)).toThrow(/revoked/);
    expect(tokens.list('acme')[0]!.lastUsedAt).toBeNull();
    db.close();
  });
});
