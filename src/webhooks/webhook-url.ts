// Which URLs a webhook may have (SPEC §12, §14): https (plain http only where the operator allows private destinations), no credentials, checked where it leads.
import { SandrunError } from '../errors.ts';
import type { DestinationPolicy } from '../net/destination-policy.ts';

export const WEBHOOK_URL_MAX_LENGTH = 2048;

function invalid(rule: string): SandrunError {
  return new SandrunError('invalid_request', `url: ${rule}`, { issues: [{ path: 'url', message: rule }] });
}

/**
 * The URL as it is stored and called (WHATWG-serialised, without a fragment), or invalid_request naming the rule.
 * Plain http:// is taken only when SANDRUN_ALLOW_PRIVATE_DESTINATIONS is on (a receiver on the operator's own
 * network): the signature proves who sent a delivery, but only TLS keeps the run's result from being read on the way.
 */
export function parseWebhookUrl(text: string, allowPlainHttp: boolean): URL {
  if (text.length > WEBHOOK_URL_MAX_LENGTH) throw invalid(`must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('must be an absolute URL, such as https://example.com/hooks/sandrun');
  }
  if (url.protocol === 'http:' && !allowPlainHttp) throw invalid('must start with https:// (plain http:// only when the operator sets SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1)');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('must start with https://');
  if (url.hostname === '') throw invalid('must name a host');
  // The URL is listed to every admin of the tenant and logged: it is no place for a password. The signature is the proof.
  if (url.username !== '' || url.password !== '') throw invalid('must not contain a user name or password (deliveries are signed; verify Sandrun-Signature instead)');
  url.hash = '';
  return url;
}

/**
 * Checks where the URL leads against the destination policy now (the worker checks again at each delivery, and
 * connects only to the addresses it checked): destination_refused (422) naming the host and the reason.
 */
export async function assertWebhookDestination(policy: DestinationPolicy, url: URL): Promise<void> {
  try {
    await policy.resolve(url.hostname, 'url');
  } catch (error) {
    if (error instanceof SandrunError) throw new SandrunError('destination_refused', error.message, error.details, { cause: error });
    throw new SandrunError('destination_refused', `url host ${url.hostname} could not be resolved (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'})`, {
      field: 'url',
      host: url.hostname,
    }, { cause: error });
  }
}
