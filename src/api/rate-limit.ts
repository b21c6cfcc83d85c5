// Per-tenant request rate limit (SPEC §14: per tenant, not per token): a token bucket per tenant (in memory, or shared by servers in PostgreSQL: shared-rate-limiter.ts), 429 rate_limited with Retry-After past it.
import type { Request, RequestHandler } from 'express';
import type { Principal } from '../auth/principal.ts';
import { SandrunError } from '../errors.ts';
import { principalOf } from './authenticate.ts';

/** A budget of requests per key: `perMinute` a minute, bursts of up to `perMinute` after a quiet spell. */
export interface RequestBudget {
  readonly capacity: number;
  /**
   * Takes `count` requests from the key's bucket, all or none: 0 when allowed, else the seconds until they are
   * available. `count` must not exceed the capacity. The in-memory budget answers at once; a shared one, a promise.
   */
  take(key: string, count?: number): number | Promise<number>;
}

/** Seconds until `missing` requests have refilled (at least 1: a refusal never says "now"). */
export function secondsUntil(missing: number, refillPerMs: number): number {
  return Math.max(1, Math.ceil(missing / refillPerMs / 1000));
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Past this many buckets, full ones (idle tenants) are dropped: they hold no state a fresh bucket lacks. */
const SWEEP_THRESHOLD = 10_000;

export class RateLimiter implements RequestBudget {
  private readonly buckets = new Map<string, Bucket>();
  readonly capacity: number;
  private readonly refillPerMs: number;

  /** `perMinute` requests a minute, and bursts of up to `perMinute` when a key has been quiet. */
  constructor(
    perMinute: number,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.capacity = perMinute;
    this.refillPerMs = perMinute / 60_000;
  }

  /**
   * Takes `count` requests from the key's bucket, all or none: 0 when allowed, else the seconds until they are
   * available. `count` must not exceed the capacity (such a request could never pass).
   */
  take(key: string, count = 1): number {
    const at = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, updatedAt: at };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + (at - bucket.updatedAt) * this.refillPerMs);
    bucket.updatedAt = at;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= SWEEP_THRESHOLD) this.sweep(at);
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens >= count) {
      bucket.tokens -= count;
      return 0;
    }
    return secondsUntil(count - bucket.tokens, this.refillPerMs);
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

/** The bucket of a request: its tenant's, whichever credential it came with (minting tokens must not multiply a rate). */
export function rateLimitKey(principal: Principal): string {
  return principal.tenantId;
}

function refusal(retryAfter: number): SandrunError | undefined {
  if (retryAfter === 0) return undefined;
  return new SandrunError('rate_limited', `too many requests from this tenant; try again in ${retryAfter} s`, { retry_after_seconds: retryAfter });
}

/** Takes `count` requests from the caller's tenant's bucket, then calls next (with the 429 when it may not); at once when the budget answers at once. */
function takeFor(limiter: RequestBudget, request: Request, count: number, next: (error?: unknown) => void): void {
  const retryAfter = limiter.take(rateLimitKey(principalOf(request)), count);
  if (typeof retryAfter === 'number') return next(refusal(retryAfter));
  retryAfter.then((seconds) => next(refusal(seconds)), next);
}

/** After authenticate: one request from the tenant's bucket. */
export function rateLimit(limiter: RequestBudget): RequestHandler {
  return (request, _response, next) => takeFor(limiter, request, 1, next);
}

/**
 * After the body of an MCP request is parsed: each call of a batch beyond the first (which the request paid for
 * before its body was read) costs one more. A batch larger than a minute's worth could never pass, and says so.
 */
export function rateLimitBatchCalls(limiter: RequestBudget): RequestHandler {
  return (request, _response, next) => {
    const calls = Array.isArray(request.body) ? request.body.length : 1;
    if (calls > limiter.capacity) {
      return next(
        new SandrunError('rate_limited', `this request makes ${calls} calls, more than this tenant's ${limiter.capacity} requests a minute; send fewer calls per request`, {
          retry_after_seconds: 60,
        }),
      );
    }
    if (calls > 1) takeFor(limiter, request, calls - 1, next);
    else next();
  };
}
