// API tokens: `sr_` + 256 random bits, shown once, stored as SHA-256, verified by hash lookup.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SandrunError } from '../errors.ts';
import type { TenantStore } from '../store/tenant-store.ts';
import type { TokenRecord, TokenStore } from '../store/token-store.ts';
import type { Principal, Scope } from './principal.ts';

export const TOKEN_PREFIX = 'sr_';
const TOKEN_PATTERN = /^sr_[A-Za-z0-9_-]{43}$/;
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');
/** last_used_at is written at most this often per token: a poll loop must not turn every request into a database write. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export interface CreatedToken {
  token: string;
  record: TokenRecord;
}

export class ApiTokens {
  constructor(
    private readonly tokens: TokenStore,
    private readonly tenants: TenantStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(options: { tenantId: string; scopes: Scope[]; name?: string | null; expiresAt?: Date | null }): Promise<CreatedToken> {
    if (!TENANT_NAME.test(options.tenantId)) {
      throw new SandrunError('invalid_request', `tenant must match ${TENANT_NAME.source}`);
    }
    if (options.scopes.length === 0) throw new SandrunError('invalid_request', 'scopes: at least one scope is required');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const at = this.now().toISOString();
    await this.tenants.ensure(options.tenantId, at);
    const record = {
      id: randomUUID(),
      tenantId: options.tenantId,
      name: options.name ?? null,
      scopes: [...new Set(options.scopes)],
      createdAt: at,
      expiresAt: options.expiresAt?.toISOString() ?? null,
    };
    await this.tokens.insert({ ...record, secretHash: hashSecret(token) });
    return { token, record: (await this.tokens.byId(record.id))! };
  }

  /** The principal of a valid token; throws unauthorized with the reason otherwise. */
  async verify(token: string): Promise<Principal> {
    return (await this.verified(token)).principal;
  }

  /** verify(), with the token's record (its id and expiry: what a server that trusts it for a while needs). */
  async verified(token: string): Promise<{ principal: Principal; record: TokenRecord }> {
    if (!TOKEN_PATTERN.test(token)) throw new SandrunError('unauthorized', 'the API token is malformed');
    // Looked up by SHA-256 of the secret: an index lookup's timing tells an attacker about hash prefixes
    // of guesses, which says nothing about any stored secret, so no byte-wise compare of secrets happens.
    const record = await this.tokens.byHash(hashSecret(token));
    if (!record) {
      throw new SandrunError('unauthorized', 'the API token is not valid');
    }
    if (record.revokedAt) throw new SandrunError('unauthorized', 'the API token has been revoked');
    const now = this.now();
    if (record.expiresAt && new Date(record.expiresAt) <= now) throw new SandrunError('unauthorized', 'the API token has expired');
    if (record.lastUsedAt === null || now.getTime() - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS) await this.tokens.markUsed(record.id, now.toISOString());
    return { principal: { tenantId: record.tenantId, scopes: new Set(record.scopes), credentialId: `token:${record.id}` }, record };
  }

  list(tenantId?: string): Promise<TokenRecord[]> {
    return this.tokens.list(tenantId);
  }

  async revoke(id: string, tenantId?: string): Promise<void> {
    const record = await this.tokens.byId(id);
    if (!record || (tenantId !== undefined && record.tenantId !== tenantId)) throw new SandrunError('not_found', `token ${id} not found`);
    await this.tokens.revoke(id, this.now().toISOString());
  }
}
