// Which repository URLs a project may be registered with (SPEC §5).
import { describe, expect, it } from 'vitest';
import { redactRepoUrl, validateRepoUrl } from '../../src/projects/repo-url.ts';

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
