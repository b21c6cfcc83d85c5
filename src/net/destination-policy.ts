// Where server-side fetches (git, JWKS, later webhooks) may go: no loopback, link-local, private or metadata address unless allowed.
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { SandrunError } from '../errors.ts';

export interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

type Range = readonly [network: string, prefix: number];

/** The refused ranges, most specific reason first: the metadata address is also link-local, and it is the one to name. */
const REFUSED: ReadonlyArray<{ reason: string; ipv4: readonly Range[]; ipv6: readonly Range[] }> = [
  { reason: 'the cloud metadata address', ipv4: [['169.254.169.254', 32]], ipv6: [['fd00:ec2::254', 128]] },
  { reason: 'a loopback address', ipv4: [['127.0.0.0', 8]], ipv6: [['::1', 128]] },
  { reason: 'an unspecified address', ipv4: [['0.0.0.0', 8]], ipv6: [['::', 128]] },
  { reason: 'a link-local address', ipv4: [['169.254.0.0', 16]], ipv6: [['fe80::', 10]] },
  {
    reason: 'a private address',
    // 100.64/10 is carrier-grade NAT, 198.18/15 benchmarking, 192.0.0/24 protocol assignments; fec0::/10 is the old site-local.
    ipv4: [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['100.64.0.0', 10], ['198.18.0.0', 15], ['192.0.0.0', 24]],
    ipv6: [['fc00::', 7], ['fec0::', 10]],
  },
  { reason: 'a multicast or broadcast address', ipv4: [['224.0.0.0', 4], ['240.0.0.0', 4]], ipv6: [['ff00::', 8]] },
];

/**
 * IPv6 forms that carry an IPv4 address: IPv4-mapped (::ffff:a.b.c.d; BlockList matches these against the IPv4 rules
 * itself), IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::a.b.c.d). Each IPv4 rule is added under these
 * prefixes, so that 64:ff9b::7f00:1 is refused as loopback.
 */
const IPV4_EMBEDDING_PREFIXES = ['::', '64:ff9b::'];

const RULES = REFUSED.map(({ reason, ipv4, ipv6 }) => {
  const list = new BlockList();
  for (const [network, prefix] of ipv4) {
    list.addSubnet(network, prefix, 'ipv4');
    for (const embedding of IPV4_EMBEDDING_PREFIXES) list.addSubnet(`${embedding}${network}`, 96 + prefix, 'ipv6');
  }
  for (const [network, prefix] of ipv6) list.addSubnet(network, prefix, 'ipv6');
  return { reason, list };
});

/** Each refused range on its own, to tell whether a whole CIDR lies inside one (the egress rules' private ranges). */
const RANGES = REFUSED.flatMap(({ reason, ipv4, ipv6 }) => [
  ...ipv4.map(([network, prefix]) => ({ reason, type: 'ipv4' as const, network, prefix })),
  ...ipv4.flatMap(([network, prefix]) => IPV4_EMBEDDING_PREFIXES.map((embedding) => ({ reason, type: 'ipv6' as const, network: `${embedding}${network}`, prefix: 96 + prefix }))),
  ...ipv6.map(([network, prefix]) => ({ reason, type: 'ipv6' as const, network, prefix })),
]).map((range) => {
  const list = new BlockList();
  list.addSubnet(range.network, range.prefix, range.type);
  return { ...range, list };
});

/**
 * Why every address of the CIDR `network/prefix` is refused (it lies inside one refused range: 10.1.0.0/16 is "a
 * private address"), or null when some of its addresses are not (0.0.0.0/0, 10.0.0.0/7). IPv4-mapped IPv6 networks
 * (::ffff:0:0/96) are not recognised: callers take IPv4 ranges in IPv4 form.
 */
export function cidrRefusalReason(network: string, prefix: number): string | null {
  const family = isIP(network);
  if (family === 0) throw new SandrunError('internal', `'${network}' is not an IP address`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return RANGES.find((range) => range.type === type && range.prefix <= prefix && range.list.check(network, type))?.reason ?? null;
}

/** Why an IP address is refused ("a loopback address"), or null when fetches may go there. */
export function refusalReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) throw new SandrunError('internal', `'${address}' is not an IP address`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return RULES.find((rule) => rule.list.check(address, type))?.reason ?? null;
}

/** A URL's host as DNS and the policy see it: IPv6 literals lose their brackets, a trailing dot goes. */
export function bareHost(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

export class DestinationPolicy {
  constructor(private readonly allowPrivate: boolean) {}

  /**
   * Every address `host` resolves to (an IP literal is its own), once all of them have passed the policy: a name
   * with one public and one private address is refused, since the connection may use either. The caller connects
   * to these addresses only (pins them), so DNS cannot answer differently between the check and the connection.
   * `field` names what the host came from ("repo_url"), for the message. A failed lookup rejects with its
   * node:dns error (code ENOTFOUND, ...), which the caller words for what it was doing.
   */
  async resolve(host: string, field: string): Promise<CheckedAddress[]> {
    const name = bareHost(host);
    const literal = isIP(name);
    const addresses: CheckedAddress[] =
      literal !== 0
        ? [{ address: name, family: literal as 4 | 6 }]
        : (await lookup(name, { all: true, verbatim: true })).map((entry) => ({ address: entry.address, family: entry.family as 4 | 6 }));
    if (addresses.length === 0) throw Object.assign(new Error(`no address for ${name}`), { code: 'ENOTFOUND' });
    if (this.allowPrivate) return addresses;
    for (const { address } of addresses) {
      const reason = refusalReason(address);
      if (reason === null) continue;
      const resolved = address === name ? '' : ` (${address})`;
      throw new SandrunError(
        'invalid_request',
        `${field} host ${name} resolves to ${reason}${resolved}; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it`,
        { field, host: name, address, reason },
      );
    }
    return addresses;
  }
}
