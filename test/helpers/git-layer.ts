// sandrun's git layer built as the composition root builds it, for tests that use mirrors and checkouts directly.
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { DestinationPolicy } from '../../src/net/destination-policy.ts';
import { GitRunner } from '../../src/projects/git.ts';
import { GitRemotes } from '../../src/projects/git-remote.ts';
import { GitMirrors } from '../../src/projects/mirror.ts';

export interface GitLayerOptions {
  allowLocalRepos?: boolean;
  allowPrivateDestinations?: boolean;
  caFile?: string;
  logger?: Logger;
}

/** Mirrors under `<root>/mirrors`, git's own state under `<root>/git`; local repositories allowed unless told otherwise. */
export function gitLayer(root: string, options: GitLayerOptions = {}): { git: GitRunner; remotes: GitRemotes; mirrors: GitMirrors } {
  const allowLocalRepos = options.allowLocalRepos ?? true;
  const remotes = new GitRemotes({
    policy: new DestinationPolicy(options.allowPrivateDestinations ?? false),
    allowLocalRepos,
    stateDir: join(root, 'git'),
    knownHostsFile: undefined,
  });
  const git = new GitRunner({
    searchPath: process.env.PATH ?? '/usr/bin:/bin',
    homeDir: remotes.homeDir,
    allowLocalRepos,
    caFile: options.caFile,
    sshCommand: remotes.sshCommand(),
    logger: options.logger ?? pino({ level: 'silent' }),
  });
  return { git, remotes, mirrors: new GitMirrors(join(root, 'mirrors'), git, remotes) };
}
