// SPEC §14's caps on what one repository may take of the host: a checkout's bytes and files, a mirror's bytes (repo_too_large, 422).
import { SandrunError } from '../errors.ts';
import type { GitMirrors } from './mirror.ts';
import { directoryBytes, measureTree, type Caps } from './repo-size.ts';

const MiB = 1024 * 1024;
/** Commits known to fit; commits never change, so a run of a checked commit does not list its tree again. */
const FITTING_KEPT = 4096;

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

export class RepoLimits {
  private readonly fitting = new Set<string>();

  constructor(
    private readonly mirrors: GitMirrors,
    private readonly caps: Caps,
  ) {}

  /**
   * Throws repo_too_large when a checkout of `commitSha` would pass either cap. Measured from git's trees before
   * anything is written: a repository of one small commit that expands to gigabytes is refused without expanding it.
   */
  async assertCheckoutFits(projectId: string, commitSha: string, projectName: string): Promise<void> {
    const key = `${projectId}@${commitSha}`;
    if (this.fitting.has(key)) return;
    const found = await measureTree(this.mirrors.git, this.mirrors.mirrorDir(projectId), commitSha, this.caps);
    if (found.files > this.caps.maxFiles) {
      throw new SandrunError(
        'repo_too_large',
        `project '${projectName}' at commit ${commitSha} has more than ${this.caps.maxFiles} files (SANDRUN_REPO_MAX_FILES): at least ${found.files}; it is not checked out`,
        { limit: 'files', max: this.caps.maxFiles, found_at_least: found.files, commit_sha: commitSha },
      );
    }
    if (found.bytes > this.caps.maxBytes) {
      throw new SandrunError(
        'repo_too_large',
        `project '${projectName}' at commit ${commitSha} has files of more than ${mib(this.caps.maxBytes)} in all (SANDRUN_REPO_MAX_MB): at least ${mib(found.bytes)}; it is not checked out`,
        { limit: 'bytes', max: this.caps.maxBytes, found_at_least: found.bytes, commit_sha: commitSha },
      );
    }
    if (this.fitting.size >= FITTING_KEPT) this.fitting.clear();
    this.fitting.add(key);
  }

  /** Throws repo_too_large when the project's bare mirror takes more than the size cap on disk. */
  async assertMirrorFits(projectId: string, projectName: string): Promise<void> {
    const found = await directoryBytes(this.mirrors.mirrorDir(projectId), this.caps.maxBytes);
    if (found.exceeded) {
      throw new SandrunError(
        'repo_too_large',
        `the repository of project '${projectName}' takes more than ${mib(this.caps.maxBytes)} on disk once cloned (SANDRUN_REPO_MAX_MB): at least ${mib(found.bytes)}`,
        { limit: 'mirror_bytes', max: this.caps.maxBytes, found_at_least: found.bytes },
      );
    }
  }
}
