// API tokens verified once, then trusted for a few seconds: a poll loop costs no token lookup each time (on PostgreSQL, a round trip of every request).
//
// A revocation through the API reaches every server at once (a `token_revoked` run signal); one made by the CLI on
// the database directly is seen once the token's few seconds are over (docs/decisions.md, "Verified API tokens").
import type { RunSignals } from '../cluster/run-signals.ts';
import { hashSecret, type ApiTokens } from './api-tokens.ts';
import type { Principal } from './principal.ts';

/** How long a verified token is trusted without asking the database again. */
export const TOKEN_TRUST_MS = 5_000;
/** How many verified tokens are kept at most (the oldest goes first). */
const MAX_KEPT = 10_000;

interface Kept {
  principal: Principal;
  tokenId: string;
  /** When the token expires (ms since the epoch), if it does. */
  expiresAt: number | undefined;
  trustedUntil: number;
}

export class VerifiedTokens {
  /** By the token's SHA-256: no secret is kept in memory longer than its request. */
  private readonly kept = new Map<string, Kept>();

  constructor(
    private readonly tokens: ApiTokens,
    private readonly signals: RunSignals,
    private readonly now: () => number = Date.now,
  ) {
    signals.subscribeAll((signal) => {
      if (signal.type === 'token_revoked') this.forget(signal.tokenId);
    });
  }

  /** The principal of a valid token (ApiTokens.verify), from memory while it is trusted. */
  async verify(token: string): Promise<Principal> {
    const key = hashSecret(token);
    const at = this.now();
    const kept = this.kept.get(key);
    if (kept && kept.trustedUntil > at && (kept.expiresAt === undefined || kept.expiresAt > at)) return kept.principal;
    this.kept.delete(key);
    const { principal, record } = await this.tokens.verified(token);
    if (this.kept.size >= MAX_KEPT) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, { principal, tokenId: record.id, expiresAt: record.expiresAt === null ? undefined : Date.parse(record.expiresAt), trustedUntil: at + TOKEN_TRUST_MS });
    return principal;
  }

  /** Revokes the token (ApiTokens.revoke) and tells every server to stop trusting it. */
  async revoke(id: string, tenantId?: string): Promise<void> {
    await this.tokens.revoke(id, tenantId);
    this.signals.publish({ type: 'token_revoked', tokenId: id });
  }

  private forget(tokenId: string): void {
    for (const [key, kept] of this.kept) if (kept.tokenId === tokenId) this.kept.delete(key);
  }
}
