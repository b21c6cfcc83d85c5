// The Host header values the MCP endpoint accepts (DNS-rebinding protection): the configured host and the loopback names, at the bound port.

function hostWithPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function allowedHostsFor(configuredHost: string, port: number): string[] {
  const hosts = [configuredHost, '127.0.0.1', 'localhost', '[::1]'].map((host) => hostWithPort(host, port));
  return [...new Set(hosts)];
}
