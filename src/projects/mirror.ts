// One bare mirror per project under a root directory: clone, refresh, resolve branches and commits, read files.
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SandrunError } from '../errors.ts';
import type { GitRunner, RemoteAccess } from './git.ts';
import type { GitRemotes } from './git-remote.ts';
import type { RepoCredential } from './repo-credential.ts';
import { redactRepoUrl } from './repo-url.ts';
import { resolveRevision, type ResolveRequest, type Resolution } from './resolve-revision.ts';

export type { ResolveRequest, Resolution } from './resolve-revision.ts';

const NETWORK_TIMEOUT_MS = 10 * 60_000;
const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const FULL_SHA = /^[0-9a-f]{40}$/;
/** Resolutions kept per project; a mirror only changes through this class, which forgets them when it does. */
const RESOLUTIONS_PER_PROJECT = 256;

export class GitMirrors {
  /** Successful resolutions per project id, so that a run does not spawn git to read a branch head. */
  private readonly resolutions = new Map<string, { generation: number; byRequest: Map<string, Resolution> }>();

  constructor(
    private readonly rootDir: string,
    /** Runs git; also for the checkouts and revision lookups that read these mirrors. */
    readonly git: GitRunner,
    private readonly remotes: GitRemotes,
  ) {}

  /** Where a project's bare mirror lives: `<rootDir>/<projectId>.git`. */
  mirrorDir(projectId: string): string {
    if (!PROJECT_ID.test(projectId)) {
      throw new SandrunError('invalid_request', `project id '${projectId}' is not a valid directory name`);
    }
    return join(this.rootDir, `${projectId}.git`);
  }

  /**
   * Clones `repoUrl` (already validated by validateRepoUrl, without credentials in it) as the project's mirror,
   * with `credential` if the repository needs one. The clone goes into a temp dir and is renamed into place, so a
   * failed clone leaves nothing; an existing mirror is replaced, so a project re-registered after a crash does not
   * trip over a stale one.
   */
  async create(projectId: string, repoUrl: string, credential: RepoCredential | null): Promise<void> {
    const target = this.mirrorDir(projectId);
    const remote = await this.remotes.open(repoUrl, credential);
    try {
      await mkdir(this.rootDir, { recursive: true });
      const temp = await mkdtemp(join(this.rootDir, `.${projectId}.git.tmp-`));
      try {
        const cloneDir = join(temp, 'mirror.git');
        // --no-local: even a local path goes through the git protocol, never hardlinks or copies of its .git.
        await this.git.run(['clone', '--mirror', '--no-local', '--quiet', '--', remote.url, cloneDir], `cloning ${redactRepoUrl(repoUrl)}`, {
          timeoutMs: NETWORK_TIMEOUT_MS,
          remote: remote.access,
        });
        await rm(target, { recursive: true, force: true });
        await rename(cloneDir, target);
        this.forgetResolutions(projectId);
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
    } finally {
      await remote.release();
    }
  }

  /**
   * Fetches the repository again from `repoUrl` (the project's, not the mirror's own remote setting: the URL checked
   * is the URL fetched): new commits, moved and deleted branches, and a changed default branch.
   */
  async fetch(projectId: string, repoUrl: string, credential: RepoCredential | null): Promise<void> {
    const gitDir = await this.existingMirror(projectId);
    const remote = await this.remotes.open(repoUrl, credential);
    try {
      await this.fetchInto(gitDir, projectId, remote.url, remote.access);
    } finally {
      // Also when the fetch failed halfway: some refs may have moved.
      this.forgetResolutions(projectId);
      await remote.release();
    }
  }

  private async fetchInto(gitDir: string, projectId: string, url: string, access: RemoteAccess): Promise<void> {
    // The mirror's own refspec: every ref, force-updated, deleted when gone upstream.
    await this.git.run(['--git-dir', gitDir, 'fetch', '--prune', '--quiet', url, '+refs/*:refs/*'], `fetching project '${projectId}'`, {
      timeoutMs: NETWORK_TIMEOUT_MS,
      remote: access,
    });
    const remoteHead = await this.git.run(['--git-dir', gitDir, 'ls-remote', '--symref', url, 'HEAD'], `reading the default branch of project '${projectId}'`, {
      timeoutMs: NETWORK_TIMEOUT_MS,
      remote: access,
    });
    const symref = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(remoteHead.stdout)?.[1];
    if (symref) {
      await this.git.run(['--git-dir', gitDir, 'symbolic-ref', 'HEAD', symref], `updating the default branch of project '${projectId}'`);
    }
  }

  /** Points the mirror's own remote setting at `repoUrl` (a URL that no longer carries credentials). */
  async setOriginUrl(projectId: string, repoUrl: string): Promise<void> {
    const gitDir = await this.existingMirror(projectId);
    await this.git.run(['--git-dir', gitDir, 'config', 'remote.origin.url', repoUrl], `updating the remote of project '${projectId}'`);
  }

  async remove(projectId: string): Promise<void> {
    await rm(this.mirrorDir(projectId), { recursive: true, force: true });
    this.resolutions.delete(projectId);
  }

  /** The branch the repository's HEAD points at (what `git clone` would check out). */
  async defaultBranch(projectId: string): Promise<string> {
    const gitDir = await this.existingMirror(projectId);
    const result = await this.git.run(['--git-dir', gitDir, 'symbolic-ref', '--quiet', '--short', 'HEAD'], `reading the default branch of project '${projectId}'`);
    return result.stdout.trim();
  }

  /** Turns a run request's branch/commit_sha into a full commit sha (rules in resolve-revision.ts). */
  async resolve(projectId: string, request: ResolveRequest): Promise<Resolution> {
    const key = JSON.stringify([request.branch ?? null, request.commitSha ?? null, request.defaultBranch, request.projectName ?? null]);
    const cache = this.resolutions.get(projectId) ?? { generation: 0, byRequest: new Map<string, Resolution>() };
    this.resolutions.set(projectId, cache);
    const cached = cache.byRequest.get(key);
    if (cached) return cached;
    const { generation } = cache;
    const resolution = await resolveRevision(this.git, await this.existingMirror(projectId), request, request.projectName ?? projectId);
    // A fetch or removal that happened meanwhile may have moved the branch: such an answer is returned, not kept.
    if (cache.generation === generation) {
      if (cache.byRequest.size >= RESOLUTIONS_PER_PROJECT) cache.byRequest.clear();
      cache.byRequest.set(key, resolution);
    }
    return resolution;
  }

  /** After a mirror changed: drops what is kept, and keeps a resolution that started before from being kept. */
  private forgetResolutions(projectId: string): void {
    const cache = this.resolutions.get(projectId);
    if (!cache) return;
    cache.generation += 1;
    cache.byRequest.clear();
  }

  /** The content of a file at a commit, or null when there is no regular file at that path. */
  async readFile(projectId: string, commitSha: string, path: string): Promise<string | null> {
    const gitDir = await this.existingMirror(projectId);
    const entry = (await this.treeEntries(gitDir, commitSha, path)).find((item) => item.path === path);
    if (!entry || entry.type !== 'blob' || entry.mode === '120000') return null;
    const blob = await this.git.run(['--git-dir', gitDir, 'cat-file', 'blob', entry.objectId], `reading ${path} at ${commitSha}`);
    return blob.stdout;
  }

  /** Repo-relative paths of the files (not subdirectories) directly inside `dir` at a commit; [] when absent. */
  async listFiles(projectId: string, commitSha: string, dir: string): Promise<string[]> {
    const gitDir = await this.existingMirror(projectId);
    const prefix = dir.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    const entries = await this.treeEntries(gitDir, commitSha, prefix === '' || prefix === '.' ? null : `${prefix}/`);
    return entries.filter((entry) => entry.type === 'blob').map((entry) => entry.path);
  }

  /** The size of the regular file at `path` in a commit, read from the tree (the blob is not read); null when there is none. */
  async fileSize(projectId: string, commitSha: string, path: string): Promise<number | null> {
    const gitDir = await this.existingMirror(projectId);
    if (!FULL_SHA.test(commitSha)) {
      throw new SandrunError('invalid_request', `commit '${commitSha}' must be a full 40-character sha here; resolve it first`);
    }
    const result = await this.git.run(['--git-dir', gitDir, 'ls-tree', '-l', '-z', '--full-tree', commitSha, '--', path], `reading the size of ${path} at ${commitSha}`);
    for (const line of result.stdout.split('\0').filter(Boolean)) {
      const tab = line.indexOf('\t');
      const [mode = '', type = '', , size = ''] = line.slice(0, tab).split(/ +/);
      if (line.slice(tab + 1) === path && type === 'blob' && mode !== '120000') return Number(size);
    }
    return null;
  }

  /** Where every ref and HEAD point now, so that a fetch can be undone (see restoreRefs). */
  async snapshotRefs(projectId: string): Promise<RefSnapshot> {
    const gitDir = await this.existingMirror(projectId);
    const refs = await this.git.run(['--git-dir', gitDir, 'for-each-ref', '--format=%(objectname) %(refname)'], `reading the refs of project '${projectId}'`);
    const head = await this.git.run(['--git-dir', gitDir, 'symbolic-ref', '--quiet', 'HEAD'], `reading the default branch of project '${projectId}'`, { okExitCodes: [1] });
    return {
      head: head.exitCode === 0 ? head.stdout.trim() : null,
      refs: new Map(refs.stdout.split('\n').filter(Boolean).map((line): [string, string] => [line.slice(line.indexOf(' ') + 1), line.slice(0, line.indexOf(' '))])),
    };
  }

  /**
   * Puts every ref and HEAD back where `snapshot` saw them (refs made since are deleted), then drops the objects that
   * nothing reaches any more, so the mirror takes again the space it took before.
   */
  async restoreRefs(projectId: string, snapshot: RefSnapshot): Promise<void> {
    const gitDir = await this.existingMirror(projectId);
    try {
      const now = await this.snapshotRefs(projectId);
      const commands = [
        ...[...snapshot.refs].map(([ref, sha]) => `update ${ref} ${sha}`),
        ...[...now.refs.keys()].filter((ref) => !snapshot.refs.has(ref)).map((ref) => `delete ${ref}`),
      ];
      await this.git.run(['--git-dir', gitDir, 'update-ref', '--stdin'], `restoring the refs of project '${projectId}'`, { input: `${commands.join('\n')}\n` });
      if (snapshot.head !== null) await this.git.run(['--git-dir', gitDir, 'symbolic-ref', 'HEAD', snapshot.head], `restoring the default branch of project '${projectId}'`);
    } finally {
      this.forgetResolutions(projectId);
    }
    await this.git.run(['--git-dir', gitDir, '-c', 'gc.autoDetach=false', 'gc', '--prune=now', '--quiet'], `dropping unreachable objects of project '${projectId}'`, {
      timeoutMs: NETWORK_TIMEOUT_MS,
    });
  }

  private async treeEntries(gitDir: string, commitSha: string, path: string | null): Promise<TreeEntry[]> {
    if (!FULL_SHA.test(commitSha)) {
      throw new SandrunError('invalid_request', `commit '${commitSha}' must be a full 40-character sha here; resolve it first`);
    }
    const args = ['--git-dir', gitDir, 'ls-tree', '-z', '--full-tree', commitSha];
    if (path !== null) args.push('--', path);
    const result = await this.git.run(args, `listing ${path ?? 'the root'} at ${commitSha}`);
    return result.stdout
      .split('\0')
      .filter(Boolean)
      .map((line) => {
        const tab = line.indexOf('\t');
        const [mode = '', type = '', objectId = ''] = line.slice(0, tab).split(' ');
        return { mode, type, objectId, path: line.slice(tab + 1) };
      });
  }

  /** Whether this server has the project's mirror (a project registered through another server has none here until it is made). */
  async exists(projectId: string): Promise<boolean> {
    return stat(this.mirrorDir(projectId)).then(
      (stats) => stats.isDirectory(),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
  }

  private async existingMirror(projectId: string): Promise<string> {
    const gitDir = this.mirrorDir(projectId);
    const exists = await stat(gitDir).then(
      (stats) => stats.isDirectory(),
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw error;
      },
    );
    if (!exists) throw new SandrunError('not_found', `project '${projectId}' has no git mirror; register it again`);
    return gitDir;
  }
}

interface TreeEntry {
  mode: string;
  type: string;
  objectId: string;
  path: string;
}

/** Where a mirror's refs pointed at one moment (refname → sha) and its HEAD's target. */
export interface RefSnapshot {
  head: string | null;
  refs: Map<string, string>;
}
