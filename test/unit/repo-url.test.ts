// Which repository URLs a project may be registered with (SPEC §5).
import { describe, expect, it } from 'vitest';
import { projectCredential } from '../../src/projects/repo-credential.ts';
import { parseRepoUrl, redactRepoUrl, validateRepoUrl } from '../../src/projects/repo-url.ts';

function rejection(url: string, allowLocal = false): string {
  try {
    validateRepoUrl(url, allowLocal);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected '${url}' to be rejected`);
}

describe('validateRepoUrl', () => {
  it.each([
    'https://github.com/acme/models.git',
    'https://token@github.com/acme/models.git',
    'ssh://git@github.com/acme/models.git',
    'ssh://git@git.example.com:2222/acme/models.git',
    'git@github.com:acme/models.git',
  ])('accepts %s', (url) => {
    expect(validateRepoUrl(url, false)).toBe(url);
  });

  it('accepts local paths and file:// URLs only when the operator allows them', () => {
    expect(validateRepoUrl('/srv/repos/models', true)).toBe('/srv/repos/models');
    expect(validateRepoUrl('file:///srv/repos/models', true)).toBe('file:///srv/repos/models');
    const refused = 'repo_url: local paths and file:// URLs are not allowed (set SANDRUN_ALLOW_LOCAL_REPOS=1)';
    expect(rejection('/srv/repos/models')).toBe(refused);
    expect(rejection('file:///srv/repos/models')).toBe(refused);
  });

  it.each([
    ['http://github.com/acme/models.git', /^repo_url: must start with https:\/\/, ssh:\/\/ or git@/],
    ['ext::sh -c touch% /tmp/pwned', /^repo_url: must not contain whitespace/],
    ['ext::ssh', /^repo_url: must start with https:\/\/, ssh:\/\/ or git@/],
    ['-uhelp', /^repo_url: must not start with '-'/],
    ['--upload-pack=touch /tmp/x', /^repo_url: must not contain whitespace|^repo_url: must not start with '-'/],
    ['ssh://-oProxyCommand=touch%20x/repo', /^repo_url: .* has no valid host/],
    ['git@-oProxyCommand=x:repo', /^repo_url: must look like git@host:path/],
    ['relative/path', /^repo_url: must start with https:\/\/, ssh:\/\/ or git@/],
    ['', /^repo_url: must not be empty/],
    ['https://', /^repo_url: 'https:\/\/' has no valid host/],
  ])('rejects %s, naming repo_url and the rule', (url, message) => {
    expect(rejection(url, true)).toMatch(message);
  });
});

describe('redactRepoUrl', () => {
  it('hides credentials in https URLs and keeps everything else', () => {
    expect(redactRepoUrl('https://user:secret@github.com/a/b.git')).toBe('https://***@github.com/a/b.git');
    expect(redactRepoUrl('ssh://git@github.com/a/b.git')).toBe('ssh://git@github.com/a/b.git');
  });
});

describe('parseRepoUrl', () => {
  it('gives git an https URL without its user info, and the user info apart (percent-decoded)', () => {
    expect(parseRepoUrl('https://deploy:t%40k%3Aen@GitHub.com./acme/models.git', false)).toEqual({
      location: { transport: 'https', url: 'https://github.com/acme/models.git', host: 'github.com', port: 443 },
      userinfo: { username: 'deploy', password: 't@k:en' },
    });
    expect(parseRepoUrl('https://git.example.com:8443/a.git', false).location).toEqual({ transport: 'https', url: 'https://git.example.com:8443/a.git', host: 'git.example.com', port: 8443 });
  });

  it('finds the host of ssh:// and git@host:path URLs, and refuses odd ssh:// forms', () => {
    expect(parseRepoUrl('ssh://git@git.example.com:2222/acme/models.git', false).location).toMatchObject({ transport: 'ssh', host: 'git.example.com' });
    expect(parseRepoUrl('ssh://git@[::1]:22/x.git', false).location).toMatchObject({ transport: 'ssh', host: '[::1]' });
    expect(parseRepoUrl('git@github.com:acme/models.git', false).location).toEqual({ transport: 'ssh', url: 'git@github.com:acme/models.git', host: 'github.com' });
    expect(() => parseRepoUrl('ssh://git:password@host/x.git', false)).toThrow(/^repo_url: must look like ssh:\/\/\[user@\]host\[:port\]\/path/);
    expect(() => parseRepoUrl('ssh://a@b@host/x.git', false)).toThrow(/^repo_url: must look like ssh:/);
  });

  it('refuses user info that is not valid percent-encoding, naming repo_url', () => {
    expect(() => parseRepoUrl('https://user:%ZZ@github.com/a.git', false)).toThrow(/^repo_url: the user name or password in the URL is not valid percent-encoding$/);
  });
});

describe('projectCredential', () => {
  const https = parseRepoUrl('https://github.com/acme/models.git', false);
  const ssh = parseRepoUrl('git@github.com:acme/models.git', false);

  it('moves the user:token of an https URL into the credential; a user name alone is refused', () => {
    expect(projectCredential(parseRepoUrl('https://deploy:tok@github.com/a.git', false), null)).toEqual({ type: 'https_token', username: 'deploy', token: 'tok' });
    expect(() => projectCredential(parseRepoUrl('https://tok@github.com/a.git', false), null)).toThrow(/^repo_url has a user name but no password/);
    expect(() => projectCredential(parseRepoUrl('https://a:b@github.com/a.git', false), { type: 'https_token', token: 'x' })).toThrow(/credential is given too/);
  });

  it('a token fits https and a key fits ssh, not the other way round', () => {
    expect(projectCredential(https, { type: 'https_token', token: 't' })).toEqual({ type: 'https_token', username: 'x-access-token', token: 't' });
    expect(() => projectCredential(ssh, { type: 'https_token', token: 't' })).toThrow(/^credential: an https_token needs an https:\/\/ repo_url/);
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----';
    expect(projectCredential(ssh, { type: 'ssh_key', private_key: key })).toEqual({ type: 'ssh_key', privateKey: `${key}\n` });
    expect(() => projectCredential(https, { type: 'ssh_key', private_key: key })).toThrow(/^credential: an ssh_key needs an ssh:\/\/ or git@host:path repo_url/);
    expect(projectCredential(https, null)).toBeNull();
  });
});
