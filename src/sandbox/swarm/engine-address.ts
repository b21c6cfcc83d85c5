// How a swarm engine is addressed (SANDRUN_SWARM_HOST, SANDRUN_SWARM_NODE_HOSTS): a local socket, TLS with client certificates, or plain TCP on loopback.
import { isIP } from 'node:net';

export const ENGINE_HOST_RULE = 'must be unix:///path, tcp+tls://host:port or tcp://host:port';

export type EngineAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; hostname: string; port: number; tls: boolean };

/** Docker's ports: 2376 for TLS, 2375 without. */
export function parseEngineHost(text: string): EngineAddress | undefined {
  if (text.startsWith('unix://')) return text.length > 'unix://'.length ? { kind: 'unix', path: text.slice('unix://'.length) } : undefined;
  const match = /^(tcp|tcp\+tls):\/\//.exec(text);
  if (!match) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${text.slice(match[0].length)}`);
  } catch {
    return undefined;
  }
  if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) return undefined;
  const tls = match[1] === 'tcp+tls';
  return { kind: 'tcp', hostname: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (tls ? 2376 : 2375)), tls };
}

/** Loopback by its literal form only: a name other than localhost is not resolved (it could resolve anywhere). */
export function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '::1') return true;
  return isIP(hostname) === 4 && hostname.startsWith('127.');
}
