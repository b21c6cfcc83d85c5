// The signature a webhook receiver checks (SPEC §12), and when a failed delivery is tried again: pure code, against node:crypto.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nextAttemptAt, retryDelayMs, type RetryPolicy } from '../../src/webhooks/webhook-backoff.ts';
import { newWebhookSecret, signatureHeader } from '../../src/webhooks/webhook-signature.ts';

describe('Sandrun-Signature', () => {
  it('is t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> keyed with the whole secret string', () => {
    const secret = 'whsec_test-secret';
    const body = '{"run_id":"r1","status":"success","stdout":"é\\n"}';
    const header = signatureHeader(secret, 1_700_000_000.9, body);
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${expected}`);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  });

  it('verifies as the documented receiver snippet does, and fails for another body, time or secret', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ run_id: 'r2', outputs: { revenue: [100, 110, 121] } });
    const header = signatureHeader(secret, 1_700_000_123, body);
    const verify = (candidate: string, signed: string, key: string) => {
      const fields = Object.fromEntries(signed.split(',').map((part) => part.split('=') as [string, string]));
      const mac = createHmac('sha256', key).update(`${fields.t}.${candidate}`).digest();
      const given = Buffer.from(fields.v1!, 'hex');
      return given.length === mac.length && timingSafeEqual(given, mac);
    };
    expect(verify(body, header, secret)).toBe(true);
    expect(verify(`${body} `, header, secret), 'another body').toBe(false);
    expect(verify(body, header.replace('t=1700000123', 't=1700000124'), secret), 'another t').toBe(false);
    expect(verify(body, header, newWebhookSecret()), 'another secret').toBe(false);
  });

  it('secrets are whsec_ and 32 random bytes in base64url, never twice the same', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => newWebhookSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  });
});

describe('retries of a failed delivery', () => {
  const policy: RetryPolicy = { baseMs: 10_000, maxDelayMs: 3_600_000, giveUpAfterMs: 24 * 3_600_000 };

  it('wait base·2^(n−1), less up to half of it at random, and never more than an hour', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt, () => 1))).toEqual([10_000, 20_000, 40_000, 80_000]);
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt, () => 0))).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(retryDelayMs(policy, 20, () => 1)).toBe(3_600_000);
    expect(retryDelayMs(policy, 5000, () => 1), 'a huge attempt number').toBe(3_600_000);
  });

  it('go on until a day has passed since the first attempt, then the delivery has failed', () => {
    const first = new Date('2026-01-01T00:00:00Z');
    const later = new Date(first.getTime() + 23 * 3_600_000);
    expect(nextAttemptAt(policy, 30, first, later, () => 1)?.toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(nextAttemptAt(policy, 31, first, new Date(first.getTime() + 24 * 3_600_000))).toBeNull();
  });
});
