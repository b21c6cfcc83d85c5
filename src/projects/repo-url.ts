// Decides which repository URLs sandrun may clone (https, ssh and git@host:path; local ones only when the operator allows) and where they lead.
import { isAbsolute } from 'node:path';
import { SandrunError } from '../errors.ts';

const SCP_LIKE = /^git@([A-Za-z0-9][A-Za-z0-9.-]*):[^\s]+$/;
/** ssh://[user@]host[:port]/path, strictly: git and WHATWG parse odder forms differently, and the host checked must be the one ssh reaches. */
const SSH_URL = /^ssh:\/\/(?:[A-Za-z0-9._-]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(?::\d{1,5})?\/[^\s]*$/i;
const LOCAL_REFUSED =
  'repo_url: local paths and file:// URLs are not allowed (set SANDRUN_ALLOW_LOCAL_REPOS=1)';

function invalid(rule: string): SandrunError {
  return new SandrunError('invalid_request', `repo_url: ${rule}`);
}

function hasHost(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.hostname !== '' && !parsed.hostname.startsWith('-');
  } catch {
    return false;
  }
}

/** Returns the URL unchanged when sandrun may clone it; otherwise throws invalid_request naming the rule. */
export function validateRepoUrl(url: string, allowLocal: boolean): string {
  if (url.length === 0) throw invalid('must not be empty');
  // Whitespace and control characters have no place in a URL and could smuggle arguments into ssh.
  if (/[\s\p{Cc}]/u.test(url)) throw invalid('must not contain whitespace or control characters');
  if (url.startsWith('-')) throw invalid("must not start with '-'");
  const lower = url.toLowerCase();
  if (lower.startsWith('https://') || lower.startsWith('ssh://')) {
    if (!hasHost(url)) throw invalid(`'${redactRepoUrl(url)}' has no valid host`);
    return url;
  }
  if (url.startsWith('git@')) {
    if (!SCP_LIKE.test(url)) throw invalid("must look like git@host:path/to/repo.git");
    return url;
  }
  if (lower.startsWith('file://') || isAbsolute(url)) {
    if (!allowLocal) throw new SandrunError('invalid_request', LOCAL_REFUSED);
    return url;
  }
  throw invalid('must start with https://, ssh:// or git@ (plain http:// and other transports are not allowed)');
}

/** The URL with any user:password removed, for messages and logs. */
export function redactRepoUrl(url: string): string {
  return url.replace(/^(https:\/\/)[^/@]*@/i, '$1***@');
}

/** Where a repository URL leads: the host that a destination policy checks, and the URL git is given. */
export type RepoLocation =
  | { transport: 'https'; url: string; host: string; port: number }
  | { transport: 'ssh'; url: string; host: string }
  | { transport: 'local'; url: string };

export interface ParsedRepoUrl {
  location: RepoLocation;
  /** The user name and password an https URL carried (percent-decoded); they are not part of location.url. */
  userinfo: { username: string; password: string } | null;
}

/**
 * Validates the URL (validateRepoUrl) and splits it into where it leads and the credentials it carried. An https URL
 * is given to git as WHATWG serialises it, without user info and without a trailing dot on the host: the host that
 * git's curl connects to is then exactly the one checked.
 */
export function parseRepoUrl(url: string, allowLocal: boolean): ParsedRepoUrl {
  validateRepoUrl(url, allowLocal);
  const lower = url.toLowerCase();
  if (lower.startsWith('https://')) {
    const parsed = new URL(url);
    const userinfo = parsed.username || parsed.password ? { username: decodeUserinfo(parsed.username), password: decodeUserinfo(parsed.password) } : null;
    parsed.username = '';
    parsed.password = '';
    parsed.hostname = parsed.hostname.replace(/\.$/, '');
    return { location: { transport: 'https', url: parsed.href, host: parsed.hostname, port: parsed.port === '' ? 443 : Number(parsed.port) }, userinfo };
  }
  if (lower.startsWith('ssh://')) {
    const host = SSH_URL.exec(url)?.[1];
    if (!host) throw invalid('must look like ssh://[user@]host[:port]/path (no password: ssh repositories use a credential of type ssh_key)');
    return { location: { transport: 'ssh', url, host }, userinfo: null };
  }
  const scpHost = SCP_LIKE.exec(url)?.[1];
  if (scpHost) return { location: { transport: 'ssh', url, host: scpHost }, userinfo: null };
  return { location: { transport: 'local', url }, userinfo: null };
}

function decodeUserinfo(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalid('the user name or password in the URL is not valid percent-encoding');
  }
}
