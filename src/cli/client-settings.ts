// Where the HTTP commands find the server and their token: SANDRUN_URL (else SANDRUN_HOST:SANDRUN_PORT), SANDRUN_TOKEN or --token.
import { errorMessage } from '../errors.ts';
import { DEFAULT_HOST, DEFAULT_PORT } from '../listen-defaults.ts';
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
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`SANDRUN_URL must be an http:// or https:// URL (got '${text}')`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`SANDRUN_URL must be an http:// or https:// URL (got '${text}')`);
  return withoutTrailingSlash(text);
}

/**
 * The base URL without a trailing slash; a server bound to every interface is reached on loopback. With SANDRUN_HOST
 * or SANDRUN_PORT set, the server's own configuration rules read them (config.ts, loaded only then: it brings zod).
 */
export async function serverUrl(env: NodeJS.ProcessEnv): Promise<string> {
  if (env.SANDRUN_URL) return parseServerUrl(env.SANDRUN_URL);
  if (env.SANDRUN_HOST === undefined && env.SANDRUN_PORT === undefined) return `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
  const { loadConfig } = await import('../config.ts');
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    throw usageError(errorMessage(error));
  }
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

export async function clientSettings(env: NodeJS.ProcessEnv, flags: { token?: string }): Promise<ClientSettings> {
  const token = flags.token ?? env.SANDRUN_TOKEN;
  if (!token) throw usageError(MISSING_TOKEN_HINT);
  return { baseUrl: await serverUrl(env), token };
}
