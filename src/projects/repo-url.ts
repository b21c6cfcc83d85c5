// Decides which repository URLs sandrun may clone: https, ssh and git@host:path; local ones only when the operator allows.
import { isAbsolute } from 'node:path';
import { SandrunError } from '../errors.ts';

const SCP_LIKE = /^git@[A-Za-z0-9][A-Za-z0-9.-]*:[^\s]+$/;
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
