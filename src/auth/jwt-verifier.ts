// Verifies OIDC access tokens (Auth0 or any issuer) with jose against the issuer's JWKS, and turns them into principals.
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload } from 'jose';
import { SandrunError } from '../errors.ts';
import { fetchChecked } from '../net/checked-fetch.ts';
import type { DestinationPolicy } from '../net/destination-policy.ts';
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
/** A key set is a few KiB; more is not a key set. */
const JWKS_MAX_BYTES = 1024 * 1024;
const KNOWN_SCOPES: ReadonlySet<string> = new Set(SCOPES);

export class JoseJwtVerifier implements JwtVerifier {
  private readonly keys;

  constructor(
    private readonly settings: JwtSettings,
    destinations: DestinationPolicy,
  ) {
    // jose caches the set, refetches when a token names a kid it does not hold (key rotation), at most once per cooldown.
    this.keys = createRemoteJWKSet(new URL(settings.jwksUrl), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: settings.jwksCooldownMs ?? 30_000,
      cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
      [customFetch]: (url: string, init: { headers: Headers; signal: AbortSignal }) => fetchKeySet(destinations, url, init),
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
      // The issuer's key set could not be had: no token can be judged now, which is an outage, not a bad token.
      if (error instanceof SandrunError) throw error;
      if (error instanceof errors.JWKSTimeout) throw new SandrunError('auth_unavailable', `${KEY_SET_UNAVAILABLE}: no answer in time`, undefined, { cause: error });
      if (error instanceof errors.JWKSInvalid) throw new SandrunError('auth_unavailable', `${KEY_SET_UNAVAILABLE}: the answer is not a key set`, undefined, { cause: error });
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

const KEY_SET_UNAVAILABLE = "the issuer's key set (JWKS) is unavailable, so no JWT can be verified now; try again later";

/**
 * jose's fetch: through the destination policy, and every failure to get a JSON answer with status 200 is an
 * auth_unavailable SandrunError (which jose passes on as it is).
 */
async function fetchKeySet(destinations: DestinationPolicy, url: string, init: { headers: Headers; signal: AbortSignal }): Promise<Response> {
  const response = await fetchChecked(destinations, new URL(url), {
    field: 'SANDRUN_JWT_JWKS_URL',
    attempt: KEY_SET_UNAVAILABLE,
    failureCode: 'auth_unavailable',
    headers: Object.fromEntries(init.headers.entries()),
    signal: init.signal,
    maxBytes: JWKS_MAX_BYTES,
  });
  if (response.status !== 200) throw new SandrunError('auth_unavailable', `${KEY_SET_UNAVAILABLE}: it answered HTTP ${response.status}`);
  try {
    JSON.parse(response.body.toString('utf8'));
  } catch (error) {
    throw new SandrunError('auth_unavailable', `${KEY_SET_UNAVAILABLE}: the answer is not JSON`, undefined, { cause: error });
  }
  return new Response(response.body, { status: 200, headers: { 'content-type': 'application/json' } });
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
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid || error instanceof errors.JOSENotSupported) return `the JWT is malformed: ${error.message}`;
  if (error instanceof errors.JOSEError) return `the JWT cannot be verified: ${error.message}`;
  return 'the JWT cannot be verified';
}
