// Every 429 says when to come back: the Retry-After each kind of refusal carries.
import { describe, expect, it } from 'vitest';
import { retryAfterSeconds } from '../../src/api/http-errors.ts';
import { SandrunError } from '../../src/errors.ts';

describe('retryAfterSeconds', () => {
  it("is the rate limiter's own figure, rounded up to whole seconds", () => {
    expect(retryAfterSeconds(new SandrunError('rate_limited', 'slow down', { retry_after_seconds: 2.2 }))).toBe(3);
  });

  it('is the time until a quota resets', () => {
    const resetsAt = new Date(Date.now() + 90_000).toISOString();
    const seconds = retryAfterSeconds(new SandrunError('quota_exceeded', 'used up', { resets_at: resetsAt }))!;
    expect(seconds).toBeGreaterThanOrEqual(89);
    expect(seconds).toBeLessThanOrEqual(90);
  });

  it('is a short wait for a full queue, which frees as runs finish', () => {
    expect(retryAfterSeconds(new SandrunError('queue_full', 'full', { queued: 200, max_queued: 200 }))).toBe(5);
  });

  it('is never below one second, and absent for anything but a 429', () => {
    expect(retryAfterSeconds(new SandrunError('quota_exceeded', 'used up', { resets_at: new Date(Date.now() - 5_000).toISOString() }))).toBe(1);
    expect(retryAfterSeconds(new SandrunError('not_found', 'no such run'))).toBeUndefined();
    expect(retryAfterSeconds(new SandrunError('engine_unavailable', 'down'))).toBeUndefined();
  });
});
