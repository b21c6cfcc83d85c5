// Turns a run request's branch and commit_sha into one full commit sha in a mirror (SPEC §1), with a warning when they disagree.
import { SandrunError } from '../errors.ts';
import type { GitRunner } from './git.ts';

export interface ResolveRequest {
  branch?: string | null;
  commitSha?: string | null;
  /** Used when neither branch nor commit is given. */
  defaultBranch: string;
  /** The name users know the project by, for messages; defaults to the project id. */
  projectName?: string;
}

export interface Resolution {
  /** 40 lowercase hex digits. */
  commitSha: string;
  /** Set when the commit is not on the requested branch; the run goes ahead. */
  warning: string | null;
}

const ABBREVIATED_SHA = /^[0-9a-fA-F]{7,40}$/;

/** Resolves in the bare repository `gitDir`; commit_sha wins over branch. */
export async function resolveRevision(git: GitRunner, gitDir: string, request: ResolveRequest, project: string): Promise<Resolution> {
  const branch = request.branch ?? null;
  const commit = request.commitSha ?? null;
  if (commit === null) {
    return { commitSha: await resolveBranch(git, gitDir, branch ?? request.defaultBranch, project), warning: null };
  }
  const commitSha = await resolveCommit(git, gitDir, commit, project);
  if (branch === null) return { commitSha, warning: null };
  validateBranchName(branch);
  const branchHead = await branchHeadOrNull(git, gitDir, branch, project);
  if (branchHead === null) {
    return { commitSha, warning: `branch '${branch}' does not exist in project '${project}'; running commit ${commitSha} anyway` };
  }
  const ancestry = await git.run(['--git-dir', gitDir, 'merge-base', '--is-ancestor', commitSha, branchHead], `checking whether ${commitSha} is on branch '${branch}'`, {
    okExitCodes: [1],
  });
  if (ancestry.exitCode === 0) return { commitSha, warning: null };
  return { commitSha, warning: `commit ${commitSha} is not on branch '${branch}' (not reachable from its head ${branchHead}); running it anyway` };
}

/** Full or abbreviated (>= 7 hex) sha → the one commit it names. */
async function resolveCommit(git: GitRunner, gitDir: string, commit: string, project: string): Promise<string> {
  if (!ABBREVIATED_SHA.test(commit)) {
    throw new SandrunError('invalid_request', `commit_sha must be 7 to 40 hexadecimal characters, got '${commit}'`);
  }
  const prefix = commit.toLowerCase();
  // --disambiguate lists every object with the prefix, so a branch that happens to be named like hex never wins.
  const candidates =
    prefix.length === 40
      ? [prefix]
      : (await git.run(['--git-dir', gitDir, 'rev-parse', `--disambiguate=${prefix}`], `looking up commit ${prefix}`)).stdout.split('\n').filter(Boolean);
  const types = candidates.length === 0 ? '' : (
    await git.run(['--git-dir', gitDir, 'cat-file', '--batch-check=%(objectname) %(objecttype)'], `looking up commit ${prefix}`, {
      input: `${candidates.join('\n')}\n`,
    })
  ).stdout;
  const commits = types
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, type]) => type === 'commit')
    .map(([sha]) => sha ?? '');
  if (commits.length === 0) throw new SandrunError('not_found', `commit ${commit} not found in project '${project}'`);
  if (commits.length > 1) {
    throw new SandrunError('invalid_request', `commit_sha '${commit}' is ambiguous in project '${project}' (matches ${commits.join(', ')}); give more characters`);
  }
  return commits[0] ?? '';
}

async function resolveBranch(git: GitRunner, gitDir: string, branch: string, project: string): Promise<string> {
  validateBranchName(branch);
  const head = await branchHeadOrNull(git, gitDir, branch, project);
  if (head === null) throw new SandrunError('not_found', `branch '${branch}' not found in project '${project}'`);
  return head;
}

async function branchHeadOrNull(git: GitRunner, gitDir: string, branch: string, project: string): Promise<string | null> {
  // A full ref name: never read as an option, never confused with a tag or a sha.
  const result = await git.run(['--git-dir', gitDir, 'rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`], `resolving branch '${branch}' in project '${project}'`, {
    okExitCodes: [1],
  });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

/**
 * git check-ref-format's rules for a branch name, checked here so that no name reaches git as an option
 * or as revision syntax (`@{-1}`, `main~2`, `a..b`).
 */
export function validateBranchName(branch: string): void {
  const problem =
    branch.length === 0 ? 'must not be empty'
    : branch.length > 255 ? 'must be at most 255 characters'
    : branch.startsWith('-') ? "must not start with '-'"
    : /[\s\p{Cc}~^:?*[\\]/u.test(branch) ? 'must not contain spaces, control characters or any of ~ ^ : ? * [ \\'
    : branch.includes('..') || branch.includes('@{') || branch === '@' ? "must not contain '..' or '@{' or be '@'"
    : branch.startsWith('/') || branch.endsWith('/') || branch.includes('//') ? "must not start or end with '/' or contain '//'"
    : branch.endsWith('.') || branch.split('/').some((part) => part.startsWith('.') || part.endsWith('.lock'))
      ? "must not end with '.', and no component may start with '.' or end with '.lock'"
    : null;
  if (problem !== null) throw new SandrunError('invalid_request', `branch '${branch}' is not a valid branch name: it ${problem}`);
}
