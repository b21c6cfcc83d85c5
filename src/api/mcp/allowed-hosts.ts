// The Host header values POST /mcp accepts (DNS-rebinding protection): loopback names, the bound address, the public URL's host, and the operator's list.

/**
 * DNS rebinding makes a browser send the attacker's own host name to this server; what protects is the name, not the
 * port (a published or forwarded port differs from the bound one). Loopback names cannot be rebound at all.
 */
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

export interface McpHostOptions {
  /** SANDRUN_HOST. */
  bindHost: string;
  /** SANDRUN_PUBLIC_URL: its host name is accepted. */
  publicUrl: string | undefined;
  /** SANDRUN_MCP_ALLOWED_HOSTS: `name` (at any port) or `name:port` (at that port only). */
  extraHosts: readonly string[];
}

/** `Example.com:8080` → name `example.com`, port `8080`; `[::1]` → name `[::1]`, no port. */
function splitHost(host: string): { name: string; port: string | undefined } {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  return match ? { name: match[1]!, port: match[2] } : { name: host.trim().toLowerCase(), port: undefined };
}

const bracketed = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host).toLowerCase();

/** Whether a request's Host header names this server as the operator published it; a missing header never does. */
export function mcpHostAllowed(options: McpHostOptions): (host: string | undefined) => boolean {
  const names = new Set([...LOOPBACK_NAMES, bracketed(options.bindHost)]);
  if (options.publicUrl !== undefined) names.add(new URL(options.publicUrl).hostname.toLowerCase());
  const entries = options.extraHosts.map(splitHost);
  for (const entry of entries) if (entry.port === undefined) names.add(entry.name);
  const exact = new Set(entries.filter((entry) => entry.port !== undefined).map((entry) => `${entry.name}:${entry.port}`));
  return (header) => {
    if (!header) return false;
    const { name, port } = splitHost(header);
    return names.has(name) || (port !== undefined && exact.has(`${name}:${port}`));
  };
}
