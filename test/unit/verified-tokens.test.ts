// Verified API tokens are trusted for a few seconds on PostgreSQL servers: a revocation through the API ends that at once on every server that hears it, one made elsewhere within the trust period; expiry is never outlived.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ApiTokens } from '../../src/auth/api-tokens.ts';
import { TOKEN_TRUST_MS, VerifiedTokens } from '../../src/auth/verified-tokens.ts';
import { LocalRunSignals } from '../../src/cluster/run-signals.ts';
import { openDatabase } from '../../src/store/database.ts';
import { TenantStore } from '../../src/store/tenant-store.ts';
import { TokenStore } from '../../src/store/token-store.ts';

async function setUp() {
  const database = await openDatabase({ kind: 'sqlite', file: ':memory:' });
  let now = Date.parse('2026-11-30T10:00:00.000Z');
  const tokens = new ApiTokens(new TokenStore(database.db), new TenantStore(database.db), () => new Date(now));
  const signals = new LocalRunSignals(pino({ level: 'silent' }));
  // Two servers' memories, hearing each other's signals (what LISTEN/NOTIFY carries between them).
  const servers = [new VerifiedTokens(tokens, signals, () => now), new VerifiedTokens(tokens, signals, () => now)];
  return { database, tokens, servers, advance: (ms: number) => (now += ms) };
}

describe('verified tokens', () => {
  it('a token revoked through one server is refused at once by both, though both had just verified it', async () => {
    const { database, tokens, servers } = await setUp();
    const { token, record } = await tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    for (const server of servers) expect((await server.verify(token)).tenantId).toBe('acme');
    await servers[0]!.revoke(record.id, 'acme');
    for (const server of servers) await expect(server.verify(token)).rejects.toThrow(/revoked/);
    await database.close();
  });

  it('a revocation the servers did not hear of (the CLI on the database) holds once the trust period is over', async () => {
    const { database, tokens, servers, advance } = await setUp();
    const { token, record } = await tokens.create({ tenantId: 'acme', scopes: ['runs:read'] });
    await servers[0]!.verify(token);
    await tokens.revoke(record.id);
    advance(TOKEN_TRUST_MS);
    await expect(servers[0]!.verify(token)).rejects.toThrow(/revoked/);
    await database.close();
  });

  it('a trusted token is refused once it expires, within its trust period', async () => {
    const { database, tokens, servers, advance } = await setUp();
    const { token } = await tokens.create({ tenantId: 'acme', scopes: ['runs:read'], expiresAt: new Date(Date.parse('2026-11-30T10:00:01.000Z')) });
    await servers[0]!.verify(token);
    advance(1_000);
    await expect(servers[0]!.verify(token)).rejects.toThrow(/expired/);
    await database.close();
  });

  it('an unknown or malformed token is refused as before, and nothing about it is kept', async () => {
    const { database, servers } = await setUp();
    await expect(servers[0]!.verify('sr_' + 'a'.repeat(43))).rejects.toThrow(/not valid/);
    await expect(servers[0]!.verify('sr_short')).rejects.toThrow(/malformed/);
    await database.close();
  });
});
