// Per-credential request rate limit: an in-memory token bucket per credential id, 429 rate_limited with Retry-After past it.
import type { RequestHandler } from 'express';
import type { Principal } from '../auth/principal.ts';
import { SandrunError } from '../errors.ts';
import { principalOf } from './authenticate.ts';

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Past this many buckets, full ones (idle credentials) are dropped: they hold no state a fresh bucket lacks. */
const SWEEP_THRESHOLD = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;
  private readonly refillPerMs: number;

  /** `perMinute` requests a minute, and bursts of up to `perMinute` when a credential has been quiet. */
  constructor(
    perMinute: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.capacity = perMinute;
    this.refillPerMs = perMinute / 60_000;
  }

  /** Takes one request from the key's bucket: 0 when allowed, else the seconds until one is available. */
  take(key: string): number {
    const at = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, updatedAt: at };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (at - bucket.updatedAt) * this.refillPerMs);
    bucket.updatedAt = at;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= SWEEP_THRESHOLD) this.sweep(at);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.refillPerMs / 1000));
  }

  get size(): number {
    return this.buckets.size;
  }

  private sweep(at: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (at - bucket.updatedAt) * this.refillPerMs >= this.capacity) this.buckets.delete(key);
    }
  }
}

/** The bucket of a credential (API token id or JWT subject) within its tenant. */
export function rateLimitKey(principal: Principal): string {
  return `${principal.tenantId}/${principal.credentialId}`;
}

/** After authenticate: one bucket per credential (API token id or JWT subject), so one tenant's clients do not starve each other. */
export function rateLimit(limiter: RateLimiter): RequestHandler {
  return (request, response, next) => {
    const principal = principalOf(request);
    const retryAfter = limiter.take(rateLimitKey(principal));
    if (retryAfter === 0) return next();
    next(new SandrunError('rate_limited', `too many requests from this credential; try again in ${retryAfter} s`, { retry_after_seconds: retryAfter }));
  };
}
