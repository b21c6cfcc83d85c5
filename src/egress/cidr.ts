// An IP network in CIDR form (10.0.0.0/8, 2001:db8::/32): parsed strictly, and asked whether it holds an address.
import { BlockList } from 'node:net';
import { parseIpAddress, type Parsed } from './destination.ts';

export interface Cidr {
  network: string;
  prefix: number;
  family: 4 | 6;
}

const bits = (family: 4 | 6) => (family === 4 ? 32 : 128);

/** The address as one number: 32 bits for IPv4, 128 for IPv6. */
function toBigInt(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const groups = (part: string): string[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [group];
          const value = toBigInt(group, 4);
          return [(value >> 16n).toString(16), (value & 0xffffn).toString(16)];
        });
  const [head = '', tail] = address.split('::');
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

function fromBigInt(value: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, index) => ((value >> BigInt(112 - 16 * index)) & 0xffffn).toString(16));
  return parseIpAddress(groups.join(':'))!.address;
}

/** `10.0.0.0/8` or `2001:db8::/32` (no brackets); the address must be the network's first (no host bits set). */
export function parseCidr(text: string): Parsed<Cidr> {
  const slash = text.indexOf('/');
  const ip = parseIpAddress(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return { problem: 'has an address that is not an IP address or a CIDR range (e.g. 10.0.0.0/8)' };
  const prefixText = slash === -1 ? String(bits(ip.family)) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || prefix > bits(ip.family)) {
    return { problem: `has a prefix length that is not a whole number from 0 to ${bits(ip.family)} (IPv${ip.family})` };
  }
  const hostBits = BigInt(bits(ip.family) - prefix);
  const network = fromBigInt((toBigInt(ip.address, ip.family) >> hostBits) << hostBits, ip.family);
  if (network !== ip.address) return { problem: `has host bits set after /${prefix}; the range is ${network}/${prefix}` };
  return { value: { network, prefix, family: ip.family } };
}

export function formatCidr(cidr: Cidr): string {
  return `${cidr.network}/${cidr.prefix}`;
}

/** Whether the CIDR holds the address (an address of the other family is never held). */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const ip = parseIpAddress(address);
  if (!ip || ip.family !== cidr.family) return false;
  const list = new BlockList();
  list.addSubnet(cidr.network, cidr.prefix, cidr.family === 4 ? 'ipv4' : 'ipv6');
  return list.check(ip.address, ip.family === 4 ? 'ipv4' : 'ipv6');
}
