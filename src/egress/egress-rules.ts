// SPEC §11: the operator's SANDRUN_EGRESS_ALLOW rules, and which of a project's network.allow destinations they grant.
import { SandrunError } from '../errors.ts';
import { cidrRefusalReason, refusalReason } from '../net/destination-policy.ts';
import { cidrContains, formatCidr, parseCidr, type Cidr } from './cidr.ts';
import type { EgressGrant } from './egress-files.ts';
import { formatDestination, parseHostName, parsePort, splitHostPort, type Destination, type Parsed } from './destination.ts';

export type EgressRule = { text: string; port: number } & (
  | { kind: 'host'; host: string }
  /** `*.example.com`: every name under example.com (a.example.com, a.b.example.com), not example.com itself. */
  | { kind: 'domain'; suffix: string }
  /** An IP address is a CIDR of one address. `privateReason`: the refused space the whole range lies in, if it does. */
  | { kind: 'cidr'; cidr: Cidr; privateReason: string | null }
);

export const EGRESS_RULE_FORM = 'host:port, *.domain:port or CIDR:port (IPv6 in brackets), e.g. api.example.com:443, *.example.com:443, 10.0.0.0/8:5432, [2001:db8::/32]:443';

/** One entry of SANDRUN_EGRESS_ALLOW. */
export function parseEgressRule(text: string): Parsed<EgressRule> {
  const parts = splitHostPort(text);
  if (!parts) return { problem: `is not of the form ${EGRESS_RULE_FORM}` };
  const port = parsePort(parts.port);
  if (port.problem !== undefined) return port;
  const base = { text, port: port.value };
  if (parts.host.startsWith('*.')) {
    const suffix = parseHostName(parts.host.slice(2));
    if (suffix.problem !== undefined) return suffix;
    return { value: { ...base, kind: 'domain', suffix: suffix.value } };
  }
  const looksLikeAddress = parts.bracketed || parts.host.includes('/') || /^[0-9.]+$/.test(parts.host);
  if (looksLikeAddress) {
    const cidr = parseCidr(parts.host);
    if (cidr.problem !== undefined) return cidr;
    // An unbracketed IPv6 range cannot get here: its colons fail splitHostPort.
    if (cidr.value.family === 4 && parts.bracketed) return { problem: 'has an IPv4 range in brackets; brackets are for IPv6' };
    if (cidr.value.family === 6 && cidrContains({ network: '::ffff:0:0', prefix: 96, family: 6 }, cidr.value.network)) {
      return { problem: 'names IPv4-mapped IPv6 addresses; write the IPv4 range in IPv4 form' };
    }
    return { value: { ...base, kind: 'cidr', cidr: cidr.value, privateReason: cidrRefusalReason(cidr.value.network, cidr.value.prefix) } };
  }
  const host = parseHostName(parts.host);
  if (host.problem !== undefined) return host;
  return { value: { ...base, kind: 'host', host: host.value } };
}

/** Every entry, or every problem (each naming its entry) when any is bad. */
export function parseEgressRules(entries: readonly string[]): { rules: EgressRule[]; problems: string[] } {
  const parsed = entries.map((entry) => ({ entry, result: parseEgressRule(entry) }));
  const problems = parsed.flatMap(({ entry, result }) => (result.problem === undefined ? [] : [`entry '${entry}' ${result.problem}`]));
  return { rules: parsed.flatMap(({ result }) => (result.value ? [result.value] : [])), problems };
}

/** Whether a rule grants a destination. */
function covers(rule: EgressRule, destination: Destination): boolean {
  if (rule.port !== destination.port) return false;
  switch (rule.kind) {
    case 'host':
      return destination.kind === 'name' && destination.host === rule.host;
    case 'domain':
      return destination.kind === 'name' && destination.host.endsWith(`.${rule.suffix}`);
    case 'cidr':
      // An address in refused space is covered only by a rule that names refused space: 0.0.0.0/0 does not grant 10.1.2.3.
      return destination.kind !== 'name' && cidrContains(rule.cidr, destination.host) && (rule.privateReason !== null || refusalReason(destination.host) === null);
  }
}

/** The rule an operator would add to grant this destination. */
function neededRule(destination: Destination): string {
  if (destination.kind === 'name') {
    const parent = destination.host.split('.').slice(1).join('.');
    return parent.length > 0 ? `${formatDestination(destination)} or *.${parent}:${destination.port}` : formatDestination(destination);
  }
  const single = `${destination.host}/${destination.kind === 'ipv4' ? 32 : 128}`;
  return destination.kind === 'ipv4' ? `${single}:${destination.port}` : `[${single}]:${destination.port}`;
}

/** Each requested destination (duplicates once) and whether the operator's rules grant it: what a project view shows. */
export function destinationStatus(rules: readonly EgressRule[], requested: readonly Destination[]): Array<{ destination: string; granted: boolean }> {
  const unique = [...new Map(requested.map((destination) => [formatDestination(destination), destination])).values()];
  return unique.map((destination) => ({ destination: formatDestination(destination), granted: rules.some((rule) => covers(rule, destination)) }));
}

/**
 * The grants of a project's requested destinations (duplicates once), or an egress_denied error naming every
 * destination no rule covers and the rule that would. A name is covered by a host or *.domain rule; an IP address by a
 * CIDR rule, and an address in refused space only by a CIDR rule inside refused space.
 */
export function grantsFor(rules: readonly EgressRule[], requested: readonly Destination[]): EgressGrant[] {
  const unique = [...new Map(requested.map((destination) => [formatDestination(destination), destination])).values()];
  const denied = unique.filter((destination) => !rules.some((rule) => covers(rule, destination)));
  if (denied.length > 0) {
    const reasons = denied.map((destination) => {
      const reason = destination.kind === 'name' ? null : refusalReason(destination.host);
      const why = reason === null ? 'no rule of SANDRUN_EGRESS_ALLOW covers it' : `it is ${reason}, which only a SANDRUN_EGRESS_ALLOW range inside that space grants`;
      return { destination: formatDestination(destination), reason: why, needs: neededRule(destination) };
    });
    const none = rules.length === 0 ? ' (this server allows no egress: SANDRUN_EGRESS_ALLOW is empty)' : '';
    const text = reasons.map((entry) => `${entry.destination} is not allowed: ${entry.reason} (the operator would add ${entry.needs})`).join('; ');
    throw new SandrunError('egress_denied', `network.allow: ${text}${none}`, { denied: reasons });
  }
  return unique.map((destination) => ({
    host: destination.host,
    port: destination.port,
    privateRanges: [...new Set(rules.flatMap((rule) => (rule.kind === 'cidr' && rule.port === destination.port && rule.privateReason !== null ? [formatCidr(rule.cidr)] : [])))],
  }));
}
