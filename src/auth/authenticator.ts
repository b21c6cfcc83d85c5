// Turns a bearer credential into a principal: sandrun API tokens, or (when configured) OIDC JWTs.
import { SandrunError } from '../errors.ts';
import { TOKEN_PREFIX } from './api-tokens.ts';
import type { VerifiedTokens } from './verified-tokens.ts';
import type { Principal } from './principal.ts';

export interface JwtVerifier {
  verify(token: string): Promise<Principal>;
}

export class Authenticator {
  constructor(
    private readonly apiTokens: Pick<VerifiedTokens, 'verify'>,
    private readonly jwt: JwtVerifier | undefined,
  ) {}

  async authenticate(authorization: string | undefined): Promise<Principal> {
    if (!authorization) throw new SandrunError('unauthorized', 'missing credentials: send Authorization: Bearer <token>');
    const match = /^Bearer +(\S+)\s*$/i.exec(authorization);
    if (!match) throw new SandrunError('unauthorized', 'malformed Authorization header: expected Bearer <token>');
    const token = match[1]!;
    if (token.startsWith(TOKEN_PREFIX)) return this.apiTokens.verify(token);
    if (this.jwt) return this.jwt.verify(token);
    throw new SandrunError('unauthorized', 'the bearer token is not a sandrun API token, and JWT sign-in is not configured');
  }
}
