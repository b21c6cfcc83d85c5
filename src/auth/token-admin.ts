// Token management by an admin credential (REST /v1/tokens): list, create, revoke — always within the admin's own tenant.
import { z } from 'zod';
import { SandrunError, invalidRequest } from '../errors.ts';
import type { TokenRecord } from '../store/token-store.ts';
import type { ApiTokens } from './api-tokens.ts';
import { SCOPES, scopeSchema, type Principal } from './principal.ts';

const MAX_EXPIRY_DAYS = 3650;

export const tokenCreateSchema = z.strictObject(
  {
    tenant: z.string({ error: 'tenant must be a string' }).min(1).optional(),
    scopes: z
      .array(scopeSchema, { error: `scopes must be an array of ${SCOPES.join(', ')}` })
      .min(1, { error: 'scopes: at least one scope is required' }),
    name: z.string({ error: 'name must be a string' }).min(1).max(200).nullable().optional(),
    expires_in_days: z
      .number({ error: 'expires_in_days must be a number' })
      .positive({ error: 'expires_in_days must be positive' })
      .max(MAX_EXPIRY_DAYS, { error: `expires_in_days must be at most ${MAX_EXPIRY_DAYS}` })
      .nullable()
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}; the fields are tenant, scopes, name, expires_in_days` : 'the body must be a JSON object',
  },
);

export interface TokenView {
  id: string;
  tenant: string;
  name: string | null;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const tokenView = (record: TokenRecord): TokenView => ({
  id: record.id,
  tenant: record.tenantId,
  name: record.name,
  scopes: record.scopes,
  created_at: record.createdAt,
  expires_at: record.expiresAt,
  revoked_at: record.revokedAt,
  last_used_at: record.lastUsedAt,
});

/**
 * An admin manages the tokens of its own tenant only: a tenant's admin is a customer, not the operator. Tokens of any
 * tenant (and new tenants) are the operator's, through `sandrun tokens create` on the server's database.
 */
export class TokenAdmin {
  constructor(
    private readonly apiTokens: ApiTokens,
    /** Revokes a token everywhere (VerifiedTokens.revoke: servers that trust it for a while forget it). */
    private readonly revokeToken: (id: string, tenantId: string) => Promise<void> = (id, tenantId) => apiTokens.revoke(id, tenantId),
    private readonly now: () => Date = () => new Date(),
  ) {}

  async list(admin: Principal): Promise<TokenView[]> {
    return (await this.apiTokens.list(admin.tenantId)).map(tokenView);
  }

  /** Returns the new token's record and its secret, which is never shown again. */
  async create(admin: Principal, input: unknown): Promise<TokenView & { token: string }> {
    const parsed = tokenCreateSchema.safeParse(input);
    if (!parsed.success) throw invalidRequest(parsed.error.issues);
    const { tenant, scopes, name, expires_in_days: days } = parsed.data;
    if (tenant !== undefined && tenant !== admin.tenantId) {
      throw new SandrunError('forbidden', `an admin credential manages only its own tenant (${admin.tenantId}); tokens for other tenants are created by the operator with 'sandrun tokens create'`);
    }
    const expiresAt = days ? new Date(this.now().getTime() + days * 86_400_000) : null;
    const created = await this.apiTokens.create({ tenantId: admin.tenantId, scopes, name: name ?? null, expiresAt });
    return { ...tokenView(created.record), token: created.token };
  }

  /** Another tenant's token is reported exactly like a missing one. */
  revoke(admin: Principal, id: string): Promise<void> {
    return this.revokeToken(id, admin.tenantId);
  }
}
