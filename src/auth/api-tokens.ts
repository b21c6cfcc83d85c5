// API tokens: `sr_` + 256 random bits, shown once, stored as SHA-256, verified by hash lookup.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SandrunError } from '../errors.ts';
import type { TenantStore } from '../store/tenant-store.ts';
import type { TokenRecord, TokenStore } from '../store/token-store.ts';
import type { Principal, Scope } from './principal.ts';

export const TOKEN_PREFIX = 'sr_';
const TOKEN_PATTERN = /^sr_[A-Za-z0-9_-]{43}$/;
export const TENANT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const hashSecret = (secret: string): string => createHash('sha256').update(secret).digest('hex');
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

  create(options: { tenantId: string; scopes: Scope[]; name?: string | null; expiresAt?: Date | null }): CreatedToken {
    if (!TENANT_NAME.test(options.tenantId)) {
      throw new SandrunError('invalid_request', `tenant must match ${TENANT_NAME.source}`);
    }
    if (options.scopes.length === 0) throw new SandrunError('invalid_request', 'scopes: at least one scope is required');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const at = this.now().toISOString();
    this.tenants.ensure(options.tenantId, at);
    const record = {
      id: randomUUID(),
      tenantId: options.tenantId,
      name: options.name ?? null,
      scopes: [...new Set(options.scopes)],
      createdAt: at,
      expiresAt: options.expiresAt?.toISOString() ?? null,
    };
    this.tokens.insert({ ...record, secretHash: hashSecret(token) });
    return { token, record: this.tokens.byId(record.id)! };
  }

  /** The principal of a valid token; throws unauthorized with the reason otherwise. */
  verify(token: string): Principal {
    if (!TOKEN_PATTERN.test(token)) throw new SandrunError('unauthorized', 'the API token is malformed');
    // Looked up by SHA-256 of the secret: an index lookup's timing tells an attacker about hash prefixes
    // of guesses, which says nothing about any stored secret, so no byte-wise compare of secrets happens.
    const record = this.tokens.byHash(hashSecret(token));
    if (!record) {
      throw new SandrunError('unauthorized', 'the API token is not valid');
    }
    if (record.revokedAt) throw new SandrunError('unauthorized', 'the API token has been revoked');
    const now = this.now();
    if (record.expiresAt && new Date(record.expiresAt) <= now) throw new SandrunError('unauthorized', 'the API token has expired');
    if (record.lastUsedAt === null || now.getTime() - Date.parse(record.lastUsedAt) >= LAST_USED_RESOLUTION_MS) this.tokens.markUsed(record.id, now.toISOString());
    return { tenantId: record.tenantId, scopes: new Set(record.scopes), credentialId: `token:${record.id}` };
  }

  list(tenantId?: string): TokenRecord[] {
    return this.tokens.list(tenantId);
  }

  revoke(id: string, tenantId?: string): void {
    const record = this.tokens.byId(id);
    if (!record || (tenantId !== undefined && record.tenantId !== tenantId)) throw new SandrunError('not_found', `token ${id} not found`);
    this.tokens.revoke(id, this.now().toISOString());
  }
}
