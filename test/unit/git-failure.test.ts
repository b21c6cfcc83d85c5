// What a client is told when git fails: a few fixed reasons, never the text git or the remote printed.
import { describe, expect, it } from 'vitest';
import { describeGitFailure } from '../../src/projects/git-failure.ts';

const reason = (stderr: string) => describeGitFailure({ stderr, timedOut: false, timeoutMs: 600_000 });

describe('describeGitFailure', () => {
  it.each([
    ["fatal: unable to access 'https://nope.invalid/x.git/': Could not resolve host: nope.invalid", "could not resolve the repository's host"],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 302", 'the repository host answered with a redirect, which sandrun does not follow; register the URL it points to'],
    ["fatal: could not read Username for 'https://h': terminal prompts disabled", 'repository not found or access denied'],
    ["fatal: unable to access 'https://h/x.git/': The requested URL returned error: 404", 'repository not found or access denied'],
    ["fatal: repository '/srv/repos/gone' does not exist", 'repository not found or access denied'],
    ['git@h: Permission denied (publickey).\r\nfatal: Could not read from remote repository.', 'repository not found or access denied'],
    ["fatal: unable to access 'https://h/': server certificate verification failed. CAfile: none CRLfile: none", 'the TLS connection to the repository host failed (certificate or protocol error)'],
    ["fatal: unable to access 'https://h/': gnutls_handshake() failed: An unexpected TLS packet was received.", 'the TLS connection to the repository host failed (certificate or protocol error)'],
    ["fatal: unable to access 'https://h:1/x.git/': Failed to connect to h port 1 after 0 ms: Couldn't connect to server", 'could not connect to the repository host'],
    ['ssh: connect to host 127.0.0.1 port 22: Connection refused\r\nfatal: Could not read from remote repository.', 'could not connect to the repository host'],
    ['Host key verification failed.\r\nfatal: Could not read from remote repository.', "the repository host's SSH key does not match the one recorded for it"],
    ["fatal: unable to access 'https://h/': The requested URL returned error: 502", 'the repository host answered with a server error'],
    ["fatal: transport 'file' not allowed", 'this kind of repository URL is not allowed'],
    ['fatal: remote error: REMOTE-WORDS please upgrade', 'the repository host refused the request'],
    ['something nobody foresaw: REMOTE-WORDS', 'git failed (the server log has the details)'],
  ])('%s → %s', (stderr, expected) => {
    expect(reason(stderr)).toBe(expected);
  });

  it('a timeout says how long git was given', () => {
    expect(describeGitFailure({ stderr: 'partial', timedOut: true, timeoutMs: 600_000 })).toBe('git timed out after 600s');
  });
});
