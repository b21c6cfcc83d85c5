// The Sandrun-Signature header of a webhook delivery (SPEC §12): t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
import { createHmac, randomBytes } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';

/** A new signing secret: whsec_ and 32 random bytes, base64url. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * The header's value for `body` sent at `unixSeconds`. The HMAC key is the whole secret string as UTF-8 (prefix
 * included), so a receiver uses what it was given as it is; the timestamp is signed with the body, so a captured
 * delivery cannot be replayed later under a new `t`.
 */
export function signatureHeader(secret: string, unixSeconds: number, body: string): string {
  const t = Math.floor(unixSeconds);
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex');
  return `t=${t},v1=${v1}`;
}
