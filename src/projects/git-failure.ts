// Turns what git printed when it failed into one of a few fixed reasons: a remote's own text never reaches a client.
const REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/could not resolve host|could not resolve hostname|name or service not known|temporary failure in name resolution/i, "could not resolve the repository's host"],
  [/returned error: 3\d\d/i, 'the repository host answered with a redirect, which sandrun does not follow; register the URL it points to'],
  [/host key verification failed|remote host identification has changed|host key for .* has changed/i, "the repository host's SSH key does not match the one recorded for it"],
  [
    /returned error: 40[134]|could not read (username|password)|authentication failed|permission denied|repository not found|does not appear to be a git repository|does not exist|access denied|not found/i,
    'repository not found or access denied',
  ],
  [/certificate|ssl|tls|gnutls|handshake/i, 'the TLS connection to the repository host failed (certificate or protocol error)'],
  [
    /failed to connect|couldn't connect|connection refused|no route to host|network is unreachable|connection timed out|timed out|connection reset|connection closed|kex_exchange|ssh_exchange_identification|bad packet|ssh_dispatch|empty reply|recv failure/i,
    'could not connect to the repository host',
  ],
  [/returned error: 5\d\d/i, 'the repository host answered with a server error'],
  [/remote error|^remote: /im, 'the repository host refused the request'],
  [/transport '[^']*' not allowed/i, 'this kind of repository URL is not allowed'],
  // What ssh says for any failure after connecting, once the more precise lines above did not match.
  [/could not read from remote repository/i, 'repository not found or access denied'],
];

export function describeGitFailure(failure: { stderr: string; timedOut: boolean; timeoutMs: number }): string {
  if (failure.timedOut) return `git timed out after ${Math.round(failure.timeoutMs / 1000)}s`;
  return REASONS.find(([pattern]) => pattern.test(failure.stderr))?.[1] ?? 'git failed (the server log has the details)';
}
