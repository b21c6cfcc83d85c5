// The per-credential token bucket: a burst up to the limit, then one request per refill interval, each credential apart.
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/api/rate-limit.ts';

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

  it('keeps a separate bucket per credential', () => {
    const limiter = new RateLimiter(2, () => 0);
    expect(limiter.take('token:a')).toBe(0);
    expect(limiter.take('token:a')).toBe(0);
    expect(limiter.take('token:a')).toBe(30);
    expect(limiter.take('jwt:b')).toBe(0);
  });

  it('refills to the limit and no further after a quiet spell', () => {
    let now = 0;
    const limiter = new RateLimiter(3, () => now);
    for (let i = 0; i < 3; i += 1) limiter.take('k');
    now += 60 * 60_000;
    for (let i = 0; i < 3; i += 1) expect(limiter.take('k')).toBe(0);
    expect(limiter.take('k')).toBeGreaterThan(0);
  });

  it('drops the buckets of idle credentials instead of growing without bound', () => {
    let now = 0;
    const limiter = new RateLimiter(600, () => now);
    for (let i = 0; i < 10_000; i += 1) limiter.take(`token:${i}`);
    now += 60_000;
    limiter.take('token:new');
    expect(limiter.size).toBeLessThanOrEqual(1);
  });
});
