// Read-only copies of a project's files at one commit, built once per (project, commit) and shared by every run.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SandrunError, errorMessage } from '../errors.ts';
import type { GitMirrors } from './mirror.ts';

const execFileAsync = promisify(execFile);
const FULL_SHA = /^[0-9a-f]{40}$/;

export class CheckoutCache {
  private readonly inFlight = new Map<string, Promise<string>>();
  private builds = 0;
  /** While a prune runs: the checkouts asked for meanwhile, which it keeps (its database check may predate their runs). */
  private askedDuringPrune: Set<string> | undefined;

  constructor(
    private readonly rootDir: string,
    private readonly mirrors: GitMirrors,
  ) {}

  /**
   * Removes half-built checkouts left by a process that died while building one. Call at start-up, before
   * anything builds: in one data directory only one server builds.
   */
  async removeLeftovers(): Promise<number> {
    let removed = 0;
    const projects = await readdir(this.rootDir).catch(() => [] as string[]);
    for (const project of projects) {
      const entries = await readdir(join(this.rootDir, project)).catch(() => [] as string[]);
      for (const entry of entries.filter((name) => name.startsWith('.') && name.includes('.tmp-'))) {
        await rm(join(this.rootDir, project, entry), { recursive: true, force: true });
        removed += 1;
      }
    }
    return removed;
  }

  /** How many checkouts this cache has built (not reused); for metrics. */
  get buildCount(): number {
    return this.builds;
  }

  /**
   * The absolute directory holding the project's files at `commitSha` (no .git), readable by any uid so
   * that a container running as an unprivileged user can read its read-only /workspace.
   */
  get(projectId: string, commitSha: string): Promise<string> {
    if (!FULL_SHA.test(commitSha)) {
      return Promise.reject(new SandrunError('invalid_request', `checkout needs a full 40-character commit sha, got '${commitSha}'`));
    }
    const key = `${projectId}/${commitSha}`;
    this.askedDuringPrune?.add(key);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const building = this.getOrBuild(projectId, commitSha).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, building);
    return building;
  }

  /** Drops every checkout of a project. */
  async remove(projectId: string): Promise<void> {
    await rm(this.projectDir(projectId), { recursive: true, force: true });
  }

  /**
   * Removes every checkout that `isReferenced` says no run needs. A checkout asked for while the check was awaited is
   * kept; the last look and a rename out of the way happen in one synchronous step, so a run recorded a moment later
   * builds the checkout again rather than losing it.
   * `beforeRemove` lets whatever else holds the directory (warm containers mount it) let go first.
   */
  async prune(isReferenced: (projectId: string, commitSha: string) => boolean | Promise<boolean>, beforeRemove?: (projectId: string) => Promise<void>): Promise<number> {
    const asked = new Set<string>();
    this.askedDuringPrune = asked;
    try {
      return await this.pruneUnreferenced(asked, isReferenced, beforeRemove);
    } finally {
      this.askedDuringPrune = undefined;
    }
  }

  private async pruneUnreferenced(
    asked: Set<string>,
    isReferenced: (projectId: string, commitSha: string) => boolean | Promise<boolean>,
    beforeRemove?: (projectId: string) => Promise<void>,
  ): Promise<number> {
    let removed = 0;
    for (const project of await listDirectories(this.rootDir)) {
      const projectDir = join(this.rootDir, project);
      for (const commitSha of (await listDirectories(projectDir)).filter((name) => FULL_SHA.test(name))) {
        const key = `${project}/${commitSha}`;
        asked.delete(key);
        const needed = async () => this.inFlight.has(key) || (await isReferenced(project, commitSha));
        if (await needed()) continue;
        await beforeRemove?.(project);
        if (await needed()) continue;
        if (this.inFlight.has(key) || asked.has(key)) continue;
        const doomed = join(projectDir, `.${commitSha}.pruned-${randomUUID()}`);
        renameSync(join(projectDir, commitSha), doomed);
        await rm(doomed, { recursive: true, force: true });
        removed += 1;
      }
    }
    return removed;
  }

  private projectDir(projectId: string): string {
    // mirrorDir validates the id, so it cannot climb out of rootDir.
    this.mirrors.mirrorDir(projectId);
    return join(this.rootDir, projectId);
  }

  private async getOrBuild(projectId: string, commitSha: string): Promise<string> {
    const projectDir = this.projectDir(projectId);
    const target = join(projectDir, commitSha);
    if (await isDirectory(target)) return target;
    await mkdir(projectDir, { recursive: true, mode: 0o755 });
    const temp = await mkdtemp(join(projectDir, `.${commitSha}.tmp-`));
    try {
      const tree = join(temp, 'tree');
      await mkdir(tree);
      await this.extract(projectId, commitSha, temp, tree);
      await makeReadableByAll(tree);
      try {
        await rename(tree, target);
        this.builds += 1;
      } catch (error) {
        // Another process renamed its copy first: theirs is identical, so use it and drop ours.
        if (!(await isDirectory(target))) throw error;
      }
      return target;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  private async extract(projectId: string, commitSha: string, temp: string, tree: string): Promise<void> {
    const archive = join(temp, 'tree.tar');
    await this.mirrors.git.run(
      ['--git-dir', this.mirrors.mirrorDir(projectId), 'archive', '--format=tar', '-o', archive, commitSha],
      `exporting project '${projectId}' at ${commitSha}`,
      { timeoutMs: 5 * 60_000 },
    );
    try {
      await execFileAsync('tar', ['-x', '-f', archive, '-C', tree, '--no-same-owner'], { timeout: 5 * 60_000 });
    } catch (error) {
      throw new SandrunError('internal', `unpacking project '${projectId}' at ${commitSha}: ${errorMessage(error)}`, undefined, { cause: error });
    }
  }
}

/** Directories 0755, executables 0755, other files 0644; symlinks are left alone (their mode is not used). */
async function makeReadableByAll(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeReadableByAll(path);
    else if (entry.isFile()) await chmod(path, ((await lstat(path)).mode & 0o111) !== 0 ? 0o755 : 0o644);
  }
}

async function listDirectories(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
