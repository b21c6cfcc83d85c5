// Where the HTTP commands find the server and their token: SANDRUN_URL (else SANDRUN_HOST:SANDRUN_PORT), SANDRUN_TOKEN or --token.
import { z } from 'zod';
import { loadConfig } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { usageError } from './cli-error.ts';

export interface ClientSettings {
  baseUrl: string;
  token: string;
}

const urlSchema = z.url({ protocol: /^https?$/, error: 'SANDRUN_URL must be an http:// or https:// URL' });

export const MISSING_TOKEN_HINT = [
  'no API token: set SANDRUN_TOKEN (or pass --token).',
  'Create one on the server host with:',
  '  sandrun tokens create --tenant T --scopes runs:read,runs:write,projects:read,projects:write',
  'then use the token it prints as its last line:',
  '  export SANDRUN_TOKEN=sr_...',
].join('\n');

/** The base URL without a trailing slash; a server bound to every interface is reached on loopback. */
export function serverUrl(env: NodeJS.ProcessEnv): string {
  if (env.SANDRUN_URL) {
    const parsed = urlSchema.safeParse(env.SANDRUN_URL);
    if (!parsed.success) throw usageError(parsed.error.issues[0]?.message ?? 'SANDRUN_URL is not a URL');
    return parsed.data.replace(/\/+$/, '');
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    throw usageError(errorMessage(error));
  }
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

export function clientSettings(env: NodeJS.ProcessEnv, flags: { token?: string }): ClientSettings {
  const token = flags.token ?? env.SANDRUN_TOKEN;
  if (!token) throw usageError(MISSING_TOKEN_HINT);
  return { baseUrl: serverUrl(env), token };
}
