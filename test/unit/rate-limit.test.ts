// The per-tenant token bucket: a burst up to the limit, then one request per refill interval, each tenant apart, a batch costing each of its calls.
import { describe, expect, it } from 'vitest';
import { RateLimiter, rateLimitKey } from '../../src/api/rate-limit.ts';

describe('RateLimiter', () => {
  it('allows a burst of the per-minute limit, then answers with the seconds to wait', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 60; i += 1) expect(limiter.take('token:a'), `request ${i + 1}`).toBe(0);
    expect(limiter.take('token:a')).toBe(1);
    now += 500;
    expect(limiter.take('token:a'), 'half a token refilled').toBe(1);
    now += 500;
    expect(limiter.take('token:a'), 'one token refilled after 1 s at 60/min').toBe(0);
    expect(limiter.take('token:a')).toBe(1);
  });

  it('keeps one bucket per tenant: every credential of a tenant shares it, another tenant has its own', () => {
    const limiter = new RateLimiter(2, () => 0);
    const acme = (credentialId: string) => rateLimitKey({ tenantId: 'acme', scopes: new Set(), credentialId });
    expect(limiter.take(acme('token:1'))).toBe(0);
    expect(limiter.take(acme('token:2'))).toBe(0);
    expect(limiter.take(acme('jwt:someone')), 'a third credential of the same tenant').toBe(30);
    expect(limiter.take(rateLimitKey({ tenantId: 'globex', scopes: new Set(), credentialId: 'token:1' }))).toBe(0);
  });

  it('takes all the calls of a batch or none of them', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    expect(limiter.take('acme', 50)).toBe(0);
    expect(limiter.take('acme', 11), 'ten left, eleven asked: wait for one more').toBe(1);
    expect(limiter.take('acme', 10), 'nothing was taken by the refused batch').toBe(0);
    now += 5_000;
    expect(limiter.take('acme', 6), 'five refilled in 5 s').toBe(1);
  });

  it('refills to the limit and no further after a quiet spell', () => {
    let now = 0;
    const limiter = new RateLimiter(3, () => now);
    for (let i = 0; i < 3; i += 1) limiter.take('k');
    now += 60 * 60_000;
    for (let i = 0; i < 3; i += 1) expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBeGreaterThan(0);
  });

  it('drops the buckets of idle tenants instead of growing without bound', () => {
    let now = 0;
    const limiter = new RateLimiter(600, () => now);
    for (let i = 0; i < 10_000; i += 1) limiter.take(`token:${i}`);
    now += 60_000;
    limiter.take('token:new');
    expect(limiter.size).toBeLessThanOrEqual(1);
  });
});
