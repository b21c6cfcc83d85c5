// Who is calling: a tenant, the scopes its credential grants, and which credential it was.
import { z } from 'zod';

export const SCOPES = ['runs:read', 'runs:write', 'projects:read', 'projects:write', 'admin'] as const;
export const scopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof scopeSchema>;

export interface Principal {
  tenantId: string;
  scopes: ReadonlySet<string>;
  /** `token:<id>` or `jwt:<sub>`; never a secret. */
  credentialId: string;
}

export const hasScope = (principal: Principal, scope: Scope): boolean => principal.scopes.has(scope) || principal.scopes.has('admin');
