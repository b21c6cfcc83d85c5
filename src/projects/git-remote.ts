// How one network git call reaches a repository: its host checked by the destination policy and pinned, the project's credential, a bare ssh.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandrunError } from '../errors.ts';
import { bareHost, type CheckedAddress, type DestinationPolicy } from '../net/destination-policy.ts';
import type { RemoteAccess } from './git.ts';
import type { RepoCredential } from './repo-credential.ts';
import { parseRepoUrl, redactRepoUrl, type RepoLocation } from './repo-url.ts';

export interface GitRemoteSettings {
  policy: DestinationPolicy;
  allowLocalRepos: boolean;
  /** sandrun's own directory for git (under the data dir): git's empty HOME, known_hosts and, for the length of a call, deploy keys. */
  stateDir: string;
  /** An operator's known_hosts file: host keys are then checked strictly against it instead of learnt on first use. */
  knownHostsFile: string | undefined;
}

/** A prepared remote: the URL to give git and what to add to its call; `release` removes what was written for it. */
export interface OpenedRemote {
  url: string;
  access: RemoteAccess;
  release(): Promise<void>;
}

const CONNECT_TIMEOUT_SECONDS = 30;

const nothingToRelease = (): Promise<void> => Promise.resolve();

/** POSIX shell single quotes: git runs GIT_SSH_COMMAND through `sh -c`. */
const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

export class GitRemotes {
  /** git's HOME: empty, so that git and ssh find no configuration there. */
  readonly homeDir: string;
  private readonly keysDir: string;
  private readonly knownHosts: { file: string; strict: boolean };

  constructor(private readonly settings: GitRemoteSettings) {
    this.homeDir = join(settings.stateDir, 'home');
    this.keysDir = join(settings.stateDir, 'keys');
    mkdirSync(this.homeDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.keysDir, { recursive: true, mode: 0o700 });
    this.knownHosts = settings.knownHostsFile
      ? { file: settings.knownHostsFile, strict: true }
      : { file: join(settings.stateDir, 'known_hosts'), strict: false };
  }

  /** Deploy keys left by a process that died during a git call. Call at start, before any git call. */
  removeLeftoverKeys(): void {
    for (const name of readdirSync(this.keysDir)) rmSync(join(this.keysDir, name), { force: true });
  }

  /**
   * ssh as git starts it: no configuration file, agent or key of the operator's (ssh reads ~ from the password
   * database, not from HOME, so each of these is named), no prompts, no forwarding or proxy, and host keys kept
   * in sandrun's own known_hosts. `extra` adds options for one call.
   */
  sshCommand(extra: readonly string[] = []): string {
    const options = [
      'BatchMode=yes',
      'IdentitiesOnly=yes',
      'IdentityAgent=none',
      // Naming a file (that never exists) keeps ssh from trying the default ~/.ssh/id_* keys.
      `IdentityFile=${join(this.keysDir, 'none')}`,
      'PasswordAuthentication=no',
      'KbdInteractiveAuthentication=no',
      `UserKnownHostsFile=${this.knownHosts.file}`,
      'GlobalKnownHostsFile=/dev/null',
      `StrictHostKeyChecking=${this.knownHosts.strict ? 'yes' : 'accept-new'}`,
      'UpdateHostKeys=no',
      'ForwardAgent=no',
      'ForwardX11=no',
      'ClearAllForwardings=yes',
      'PermitLocalCommand=no',
      'ProxyCommand=none',
      'ProxyJump=none',
      'ControlMaster=no',
      'ControlPath=none',
      `ConnectTimeout=${CONNECT_TIMEOUT_SECONDS}`,
      ...extra,
    ];
    return ['ssh', '-F', '/dev/null', ...options.flatMap((option) => ['-o', option])].map((part) => (part === 'ssh' ? part : shellQuote(part))).join(' ');
  }

  /**
   * Checks where `repoUrl` leads against the destination policy (before any connection) and prepares a git call
   * that connects only to the addresses checked, with `credential`, following no redirect.
   */
  async open(repoUrl: string, credential: RepoCredential | null): Promise<OpenedRemote> {
    const { location } = parseRepoUrl(repoUrl, this.settings.allowLocalRepos);
    if (location.transport === 'local') return { url: location.url, access: { config: [], env: {}, secrets: [] }, release: nothingToRelease };
    const addresses = await this.checkedAddresses(location);
    if (location.transport === 'https') return { url: location.url, access: this.httpsAccess(location, addresses, credential), release: nothingToRelease };
    let keyFile: string | undefined;
    try {
      if (credential?.type === 'ssh_key') {
        keyFile = join(this.keysDir, randomUUID());
        await writeFile(keyFile, credential.privateKey, { mode: 0o600, flag: 'wx' });
      }
      // HostName pins the address checked; HostKeyAlias keeps known_hosts keyed by the name, which is what was trusted.
      const pinned = [`HostName=${addresses[0]!.address}`, `HostKeyAlias=${bareHost(location.host)}`, 'CheckHostIP=no', ...(keyFile ? [`IdentityFile=${keyFile}`] : [])];
      const file = keyFile;
      return {
        url: location.url,
        access: { config: [], env: { GIT_SSH_COMMAND: this.sshCommand(pinned) }, secrets: [] },
        release: () => (file ? rm(file, { force: true }) : Promise.resolve()),
      };
    } catch (error) {
      if (keyFile) await rm(keyFile, { force: true });
      throw error;
    }
  }

  private async checkedAddresses(location: Exclude<RepoLocation, { transport: 'local' }>): Promise<CheckedAddress[]> {
    try {
      return await this.settings.policy.resolve(location.host, 'repo_url');
    } catch (error) {
      if (error instanceof SandrunError) throw error;
      // The lookup failed: say so in our words (a resolver's message names nothing the client needs).
      throw new SandrunError('git_failed', `reaching ${redactRepoUrl(location.url)}: could not resolve the repository's host ${bareHost(location.host)}`, undefined, {
        cause: error,
      });
    }
  }

  private httpsAccess(location: Extract<RepoLocation, { transport: 'https' }>, addresses: CheckedAddress[], credential: RepoCredential | null): RemoteAccess {
    const host = bareHost(location.host);
    // An IP literal needs no resolving; a name is resolved by curl to the addresses checked, and to nothing else.
    const config = addresses.some((entry) => entry.address === host)
      ? []
      : [`http.curloptResolve=${host}:${location.port}:${addresses.map((entry) => (entry.family === 6 ? `[${entry.address}]` : entry.address)).join(',')}`];
    if (credential?.type !== 'https_token') return { config, env: {}, secrets: [] };
    // In the environment, not argv (which any local user can read); scoped to this origin, and redirects are refused.
    const origin = new URL(location.url).origin;
    const basic = Buffer.from(`${credential.username}:${credential.token}`).toString('base64');
    return {
      config,
      env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: `http.${origin}/.extraHeader`, GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` },
      secrets: [credential.token, basic],
    };
  }
}
