// The egress proxy's one way out: resolve a granted destination itself, check every address, connect to a checked one.
import { lookup } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';
import { refusalReason } from '../../net/destination-policy.ts';
import { cidrContains, parseCidr, type Cidr } from '../cidr.ts';
import { parseIpAddress } from '../destination.ts';
import type { EgressGrant } from '../egress-files.ts';

/** Why the proxy answered a client with something other than a connection: the HTTP status and a message for it. */
export class ProxyRefusal extends Error {
  constructor(
    readonly status: 403 | 502 | 504,
    message: string,
  ) {
    super(message);
  }
}

function privateRanges(grant: EgressGrant): Cidr[] {
  // The grant file's schema has checked that each parses.
  return grant.privateRanges.map((text) => parseCidr(text).value!);
}

/** The addresses the grant's host has, once each has passed: public, or inside a private range the operator named. */
export async function checkedAddresses(grant: EgressGrant): Promise<string[]> {
  const literal = parseIpAddress(grant.host);
  let addresses: string[];
  if (literal) addresses = [literal.address];
  else {
    try {
      addresses = (await lookup(grant.host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch (error) {
      throw new ProxyRefusal(502, `${grant.host} could not be resolved (${(error as NodeJS.ErrnoException).code ?? 'lookup failed'})`);
    }
  }
  const ranges = privateRanges(grant);
  for (const address of addresses) {
    const reason = refusalReason(address);
    if (reason === null || ranges.some((range) => cidrContains(range, address))) continue;
    // One refused answer refuses the name: the connection could otherwise land on it (DNS rebinding).
    const resolved = address === grant.host ? '' : ` (${address})`;
    throw new ProxyRefusal(403, `${grant.host} resolves to ${reason}${resolved}, which the operator's rules do not name`);
  }
  if (addresses.length === 0) throw new ProxyRefusal(502, `${grant.host} has no address`);
  return addresses;
}

/** Connects to the first address that answers within `timeoutMs`; the socket is connected when this resolves. */
export async function dialGranted(grant: EgressGrant, timeoutMs: number): Promise<Socket> {
  const addresses = await checkedAddresses(grant);
  let lastError: NodeJS.ErrnoException | undefined;
  for (const address of addresses) {
    try {
      return await connectOnce(address, grant.port, timeoutMs);
    } catch (error) {
      lastError = error as NodeJS.ErrnoException;
    }
  }
  if (lastError?.code === 'ETIMEDOUT') throw new ProxyRefusal(504, `${grant.host}:${grant.port} did not answer in ${timeoutMs / 1000} s`);
  throw new ProxyRefusal(502, `${grant.host}:${grant.port} refused the connection (${lastError?.code ?? 'connect failed'})`);
}

function connectOnce(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      // The 'error' listener stays: once settled it does nothing, and a later error is the caller's to see.
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
