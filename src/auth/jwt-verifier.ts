// Verifies OIDC access tokens (Auth0 or any issuer) with jose against the issuer's JWKS, and turns them into principals.
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { SandrunError } from '../errors.ts';
import { TENANT_NAME } from './api-tokens.ts';
import type { JwtVerifier } from './authenticator.ts';
import { SCOPES, type Principal } from './principal.ts';

/**
 * Asymmetric algorithms only: the keys come from a public JWKS, so an HS* token "signed" with a public key, or an
 * unsigned `alg: none` token, must never verify.
 */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

export interface JwtSettings {
  issuer: string;
  audience: string;
  jwksUrl: string;
  tenantClaim: string;
  /** After a fetch, how long an unknown `kid` does not trigger another one (jose's cooldown). */
  jwksCooldownMs?: number;
}

const CLOCK_TOLERANCE_SECONDS = 30;
const JWKS_TIMEOUT_MS = 5_000;
const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
const KNOWN_SCOPES: ReadonlySet<string> = new Set(SCOPES);

export class JoseJwtVerifier implements JwtVerifier {
  private readonly keys;

  constructor(private readonly settings: JwtSettings) {
    // jose caches the set, refetches when a token names a kid it does not hold (key rotation), at most once per cooldown.
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: settings.jwksCooldownMs ?? 30_000,
      cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
    });
  }

  async verify(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: JWT_ALGORITHMS,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }));
    } catch (error) {
      throw new SandrunError('unauthorized', describeFailure(error), undefined, { cause: error });
    }
    return { tenantId: this.tenantOf(payload), scopes: scopesOf(payload), credentialId: `jwt:${payload.sub}` };
  }

  private tenantOf(payload: JWTPayload): string {
    const claim = this.settings.tenantClaim;
    const tenant = payload[claim];
    if (tenant === undefined || tenant === null || tenant === '') throw new SandrunError('unauthorized', `the JWT has no "${claim}" claim, which names the tenant`);
    if (typeof tenant !== 'string' || !TENANT_NAME.test(tenant)) {
      throw new SandrunError('unauthorized', `the JWT's "${claim}" claim is not a valid tenant name (${TENANT_NAME.source})`);
    }
    return tenant;
  }
}

/** Scopes from `permissions` (Auth0 RBAC, an array) and `scope` (OAuth 2, space-separated); only sandrun's own count. */
function scopesOf(payload: JWTPayload): Set<string> {
  const granted: string[] = [];
  if (Array.isArray(payload.permissions)) granted.push(...payload.permissions.filter((item): item is string => typeof item === 'string'));
  if (typeof payload.scope === 'string') granted.push(...payload.scope.split(' '));
  return new Set(granted.filter((scope) => KNOWN_SCOPES.has(scope)));
}

function describeFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the JWT has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the JWT is not valid yet (nbf)';
    if (error.claim === 'iss') return 'the JWT was issued by an unexpected issuer (iss)';
    if (error.claim === 'aud') return 'the JWT is meant for another audience (aud)';
    return `the JWT's "${error.claim}" claim is invalid: ${error.reason === 'missing' ? 'missing' : error.message}`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return `the JWT's algorithm is not allowed; allowed: ${JWT_ALGORITHMS.join(', ')}`;
  if (error instanceof errors.JWKSNoMatchingKey) return "no key in the issuer's JWKS matches the JWT's kid and alg";
  if (error instanceof errors.JWKSMultipleMatchingKeys) return "several keys in the issuer's JWKS match the JWT; it needs a kid";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "the JWT's signature does not verify";
  if (error instanceof errors.JWKSTimeout) return "the issuer's JWKS did not answer in time; the JWT cannot be verified";
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported) return `the JWT is malformed: ${error.message}`;
  if (error instanceof errors.JOSEError) return `the JWT cannot be verified: ${error.message}`;
  // Network failures fetching the JWKS arrive as plain errors.
  return "the issuer's JWKS could not be fetched; the JWT cannot be verified";
}
