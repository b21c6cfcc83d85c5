// When a failed webhook delivery is tried again (SPEC §12): exponential backoff with jitter, for at least a day.

export interface RetryPolicy {
  /** The first wait, before jitter; each later one doubles. */
  baseMs: number;
  /** No wait between two attempts is longer. */
  maxDelayMs: number;
  /** Attempts go on until at least this long has passed since the first one. */
  giveUpAfterMs: number;
}

export const RETRY_MAX_DELAY_MS = 60 * 60_000;
export const RETRY_FOR_MS = 24 * 60 * 60_000;

/**
 * The wait after failed attempt number `attempt` (1, 2, ...): base·2^(attempt−1), capped, of which a random half is
 * taken off ("equal jitter"), so that the deliveries of many runs that failed together do not come back together.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseMs * 2 ** Math.min(attempt - 1, 52));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/** After a failed attempt at `now`: when to try again, or null when the delivery has been tried long enough (it failed). */
export function nextAttemptAt(policy: RetryPolicy, attempt: number, firstAttemptAt: Date, now: Date, random?: () => number): Date | null {
  if (now.getTime() - firstAttemptAt.getTime() >= policy.giveUpAfterMs) return null;
  return new Date(now.getTime() + retryDelayMs(policy, attempt, random));
}
