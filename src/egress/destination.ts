// One network destination, `host:port`, as sandrun.yaml's network.allow, SANDRUN_EGRESS_ALLOW and the egress proxy write it.
import { isIP } from 'node:net';

export interface Destination {
  /** A lower-case DNS name without a trailing dot, or an IP address in its canonical form (IPv6 compressed, no brackets). */
  host: string;
  kind: 'name' | 'ipv4' | 'ipv6';
  port: number;
}

/** A parse result: the value, or what is wrong with the text (words that follow the quoted text in a message). */
export type Parsed<T> = { value: T; problem?: undefined } | { value?: undefined; problem: string };

export const DESTINATION_FORM = 'host:port (a DNS name or an IP address, IPv6 in brackets), e.g. api.example.com:443 or [2001:db8::1]:443';

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const PORT = /^[1-9][0-9]{0,4}$/;

/** A port from 1 to 65535, written plainly (no sign, no leading zero). */
export function parsePort(text: string): Parsed<number> {
  const port = Number(text);
  if (!PORT.test(text) || port > 65535) return { problem: 'has a port that is not a whole number from 1 to 65535' };
  return { value: port };
}

/**
 * A DNS name: letters, digits and hyphens in dot-separated labels, the last one not all digits. The last rule keeps
 * numeric forms out ("2130706433", "0x7f.1"): the C resolver reads those as IP addresses (127.0.0.1), which would let a
 * name slip past the address rules.
 */
export function parseHostName(text: string): Parsed<string> {
  const name = text.toLowerCase().replace(/\.$/, '');
  const labels = name.split('.');
  if (name.length === 0 || name.length > 253 || !labels.every((label) => LABEL.test(label)) || /^[0-9]+$/.test(labels.at(-1)!) || /^0x[0-9a-f]*$/.test(labels.at(-1)!)) {
    return { problem: 'has a host that is neither a DNS name (letters, digits, hyphens and dots; not all digits) nor an IP address' };
  }
  return { value: name };
}

/** An IP address in canonical form (the URL parser compresses IPv6 and lower-cases it), or undefined. */
export function parseIpAddress(text: string): { address: string; family: 4 | 6 } | undefined {
  // Zone ids (fe80::1%eth0) name an interface of the proxy's machine: never a destination.
  if (text.includes('%')) return undefined;
  const family = isIP(text);
  if (family === 4) return { address: text, family };
  if (family === 6) return { address: new URL(`http://[${text}]/`).hostname.slice(1, -1), family };
  return undefined;
}

/** Splits `host:port` or `[v6]:port` into its host text (brackets removed) and port text; undefined when it has neither form. */
export function splitHostPort(text: string): { host: string; port: string; bracketed: boolean } | undefined {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):([^:]*)$/.exec(text);
  if (!match) return undefined;
  return { host: match[1] ?? match[2]!, port: match[3]!, bracketed: match[1] !== undefined };
}

/** `api.example.com:443`, `10.1.2.3:8080` or `[2001:db8::1]:443`. */
export function parseDestination(text: string): Parsed<Destination> {
  const parts = splitHostPort(text.trim());
  if (!parts) return { problem: `is not of the form ${DESTINATION_FORM}` };
  const port = parsePort(parts.port);
  if (port.problem !== undefined) return port;
  const ip = parseIpAddress(parts.host);
  if (parts.bracketed) {
    if (ip?.family !== 6) return { problem: 'has a host in brackets that is not an IPv6 address' };
    return { value: { host: ip.address, kind: 'ipv6', port: port.value } };
  }
  if (ip) return { value: { host: ip.address, kind: 'ipv4', port: port.value } };
  const name = parseHostName(parts.host);
  if (name.problem !== undefined) return name;
  return { value: { host: name.value, kind: 'name', port: port.value } };
}

export function formatDestination(destination: Pick<Destination, 'host' | 'port'>): string {
  return destination.host.includes(':') ? `[${destination.host}]:${destination.port}` : `${destination.host}:${destination.port}`;
}
