// Where the HTTP commands find the server and their token: SANDRUN_URL (else SANDRUN_HOST:SANDRUN_PORT), SANDRUN_TOKEN or --token.
// Read without config.ts: it validates every server setting with zod, which these commands do not load (docs/decisions.md).
import { DEFAULT_HOST, DEFAULT_PORT, HOST_RULE, PORT_RULE, parseHost, parsePort } from '../listen-address.ts';
import { usageError } from './cli-error.ts';

export interface ClientSettings {
  baseUrl: string;
  token: string;
}

export const MISSING_TOKEN_HINT = [
  'no API token: set SANDRUN_TOKEN (or pass --token).',
  'Create one on the server host with:',
  '  sandrun tokens create --tenant T --scopes runs:read,runs:write,projects:read,projects:write',
  'then use the token it prints as its last line:',
  '  export SANDRUN_TOKEN=sr_...',
].join('\n');

const withoutTrailingSlash = (url: string): string => url.replace(/\/+$/, '');

/** SANDRUN_URL checked by hand, not with zod: the CLI's remote commands do not load zod (docs/decisions.md). */
function parseServerUrl(text: string): string {
  const protocol = URL.canParse(text) ? new URL(text).protocol : undefined;
  if (protocol !== 'http:' && protocol !== 'https:') throw usageError(`SANDRUN_URL must be an http:// or https:// URL (got '${text}')`);
  return withoutTrailingSlash(text);
}

/** A variable's value by its rule (listen-address.ts, the server's own), or a usage error that names it. */
function byRule<T>(env: NodeJS.ProcessEnv, name: 'SANDRUN_HOST' | 'SANDRUN_PORT', parse: (text: string) => T | undefined, rule: string, fallback: T): T {
  const text = env[name];
  if (text === undefined) return fallback;
  const value = parse(text);
  if (value === undefined) throw usageError(`${name}: ${rule} (got '${text}')`);
  return value;
}

/** The base URL without a trailing slash; a server bound to every interface is reached on loopback. */
export function serverUrl(env: NodeJS.ProcessEnv): string {
  if (env.SANDRUN_URL) return parseServerUrl(env.SANDRUN_URL);
  const host = byRule(env, 'SANDRUN_HOST', parseHost, HOST_RULE, DEFAULT_HOST);
  const port = byRule(env, 'SANDRUN_PORT', parsePort, PORT_RULE, DEFAULT_PORT);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

export function clientSettings(env: NodeJS.ProcessEnv, flags: { token?: string }): ClientSettings {
  const token = flags.token ?? env.SANDRUN_TOKEN;
  if (!token) throw usageError(MISSING_TOKEN_HINT);
  return { baseUrl: serverUrl(env), token };
}
