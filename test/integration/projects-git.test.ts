// Mirrors, branch/commit resolution, file reads and shared checkouts against real git repositories in temp dirs.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandrunError } from '../../src/errors.ts';
import { CheckoutCache } from '../../src/projects/checkouts.ts';
import type { GitMirrors } from '../../src/projects/mirror.ts';
import { loadProjectManifest } from '../../src/projects/project-files.ts';
import { YamlParser } from '../../src/projects/yaml-parser.ts';
import { gitLayer } from '../helpers/git-layer.ts';

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

function commitFiles(repo: string, message: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), content);
  }
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

async function failure(promise: Promise<unknown>): Promise<SandrunError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SandrunError) return error;
    throw error;
  }
  throw new Error('expected the call to fail with a SandrunError');
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('projects: git mirrors and checkouts', { timeout: 30_000 }, () => {
  let root: string;
  let source: string;
  let mirrors: GitMirrors;
  let checkouts: CheckoutCache;
  const commits: Record<'first' | 'second' | 'feature', string> = { first: '', second: '', feature: '' };
  const project = 'acme-models';

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'sandrun-projects-'));
    chmodSync(root, 0o755); // so the uid-10001 check below can reach the checkouts
    source = join(root, 'source');
    mkdirSync(source);
    git(source, 'init', '-q', '-b', 'main');
    git(source, 'config', 'user.name', 'Sandrun Test');
    git(source, 'config', 'user.email', 'test@sandrun.invalid');
    git(source, 'config', 'commit.gpgsign', 'false');
    commits.first = commitFiles(source, 'first', {
      'README.md': 'version 1\n',
      'models/a.py': 'print("a")\n',
      'sub/dir/data.txt': 'nested\n',
      'run.sh': '#!/bin/sh\necho hi\n',
    });
    chmodSync(join(source, 'run.sh'), 0o755);
    git(source, 'update-index', '--chmod=+x', 'run.sh');
    git(source, 'commit', '-q', '--amend', '--no-edit');
    commits.first = git(source, 'rev-parse', 'HEAD');
    git(source, 'checkout', '-q', '-b', 'feature');
    commits.feature = commitFiles(source, 'feature work', { 'feature.txt': 'feature\n' });
    git(source, 'checkout', '-q', 'main');
    commits.second = commitFiles(source, 'second', {
      'README.md': 'version 2\n',
      'models/b.py': 'print("b")\n',
      'sandrun.yaml': 'models:\n  b:\n    command: [python, models/b.py]\n  a:\n    command: [python, models/a.py]\n',
    });
    ({ mirrors } = gitLayer(root));
    checkouts = new CheckoutCache(join(root, 'checkouts'), mirrors);
    await mirrors.create(project, source, null);
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('clones a bare mirror and reads its default branch', async () => {
    expect(existsSync(join(root, 'mirrors', `${project}.git`, 'HEAD')), 'mirror HEAD file').toBe(true);
    expect(await mirrors.defaultBranch(project)).toBe('main');
  });

  it('resolves the default branch, another branch, a full and an abbreviated sha', async () => {
    expect(await mirrors.resolve(project, { defaultBranch: 'main' })).toEqual({ commitSha: commits.second, warning: null });
    expect((await mirrors.resolve(project, { branch: 'feature', defaultBranch: 'main' })).commitSha).toBe(commits.feature);
    expect((await mirrors.resolve(project, { commitSha: commits.first, defaultBranch: 'main' })).commitSha).toBe(commits.first);
    const abbreviated = commits.first.slice(0, 7).toUpperCase();
    expect((await mirrors.resolve(project, { commitSha: abbreviated, defaultBranch: 'main' })).commitSha).toBe(commits.first);
  });

  it('warns, but resolves, when the commit is not on the given branch', async () => {
    const offBranch = await mirrors.resolve(project, { branch: 'main', commitSha: commits.feature, defaultBranch: 'main' });
    expect(offBranch.commitSha).toBe(commits.feature);
    expect(offBranch.warning).toMatch(new RegExp(`commit ${commits.feature} is not on branch 'main'`));
    const onBranch = await mirrors.resolve(project, { branch: 'feature', commitSha: commits.first, defaultBranch: 'main' });
    expect(onBranch, 'an ancestor of the branch head is on the branch').toEqual({ commitSha: commits.first, warning: null });
  });

  it('reports unknown branches and commits as not_found, and malformed ones as invalid_request', async () => {
    const branch = await failure(mirrors.resolve(project, { branch: 'nope', defaultBranch: 'main', projectName: 'acme' }));
    expect([branch.code, branch.message]).toEqual(['not_found', "branch 'nope' not found in project 'acme'"]);
    const commit = await failure(mirrors.resolve(project, { commitSha: 'deadbeef', defaultBranch: 'main', projectName: 'acme' }));
    expect([commit.code, commit.message]).toEqual(['not_found', "commit deadbeef not found in project 'acme'"]);
    const full = await failure(mirrors.resolve(project, { commitSha: 'f'.repeat(40), defaultBranch: 'main' }));
    expect(full.code).toBe('not_found');
    const short = await failure(mirrors.resolve(project, { commitSha: 'abc12', defaultBranch: 'main' }));
    expect([short.code, short.message]).toEqual(['invalid_request', "commit_sha must be 7 to 40 hexadecimal characters, got 'abc12'"]);
    for (const bad of ['--upload-pack=x', 'main..feature', 'main~1', '@{-1}', 'a b']) {
      const error = await failure(mirrors.resolve(project, { branch: bad, defaultBranch: 'main' }));
      expect(error.code, `branch ${bad}`).toBe('invalid_request');
    }
  });

  it('reads a file at a commit, or null when absent, and lists a directory', async () => {
    expect(await mirrors.readFile(project, commits.second, 'sandrun.yaml')).toMatch(/^models:\n {2}b:/);
    expect(await mirrors.readFile(project, commits.first, 'sandrun.yaml'), 'no manifest at the first commit').toBeNull();
    expect(await mirrors.readFile(project, commits.first, 'sub/dir/data.txt')).toBe('nested\n');
    expect(await mirrors.readFile(project, commits.first, 'sub'), 'a directory is not a file').toBeNull();
    expect(await mirrors.listFiles(project, commits.second, 'models')).toEqual(['models/a.py', 'models/b.py']);
    expect(await mirrors.listFiles(project, commits.second, 'missing')).toEqual([]);
  });

  it('loads the manifest at a commit, falling back to models/*.py without one', async () => {
    const options = { images: ['sandrun/python:3.11'], maxBytes: 64 * 1024, yaml: new YamlParser() };
    const withoutManifest = await loadProjectManifest(mirrors, project, commits.first, options);
    expect([...withoutManifest.models.keys()]).toEqual(['a']);
    const withManifest = await loadProjectManifest(mirrors, project, commits.second, options);
    expect([...withManifest.models.keys()], 'manifest order').toEqual(['b', 'a']);
  });

  it('builds checkouts with the right files at two commits, readable by any user, without .git', async () => {
    const first = await checkouts.get(project, commits.first);
    const second = await checkouts.get(project, commits.second);
    expect(first).toBe(join(root, 'checkouts', project, commits.first));
    expect(readFileSync(join(first, 'README.md'), 'utf8')).toBe('version 1\n');
    expect(readFileSync(join(second, 'README.md'), 'utf8')).toBe('version 2\n');
    expect(existsSync(join(first, 'sandrun.yaml')), 'sandrun.yaml only exists at the second commit').toBe(false);
    expect(existsSync(join(first, '.git')), 'no .git in a checkout').toBe(false);
    expect({ root: mode(first), dir: mode(join(first, 'sub/dir')), file: mode(join(first, 'README.md')), script: mode(join(first, 'run.sh')) }).toEqual({
      root: '755',
      dir: '755',
      file: '644',
      script: '755',
    });
    if (process.getuid?.() === 0) {
      const asRunner = spawnSync('cat', [join(first, 'sub/dir/data.txt')], { uid: 10001, gid: 10001, encoding: 'utf8' });
      expect(asRunner.stdout, `uid 10001 reads the checkout (stderr: ${asRunner.stderr})`).toBe('nested\n');
    }
  });

  it('shares one build between 5 concurrent requests for the same commit', async () => {
    const fresh = new CheckoutCache(join(root, 'checkouts-shared'), mirrors);
    const dirs = await Promise.all(Array.from({ length: 5 }, () => fresh.get(project, commits.feature)));
    expect(new Set(dirs).size, `directories: ${dirs.join(', ')}`).toBe(1);
    expect(fresh.buildCount, 'builds for 5 concurrent calls').toBe(1);
    expect(readFileSync(join(dirs[0] ?? '', 'feature.txt'), 'utf8')).toBe('feature\n');
    expect(await fresh.get(project, commits.feature)).toBe(dirs[0]);
    expect(fresh.buildCount, 'a later call reuses the checkout').toBe(1);
  });

  it('lets two processes race for the same checkout: one copy wins, the other is discarded', async () => {
    const one = new CheckoutCache(join(root, 'checkouts-race'), mirrors);
    const other = new CheckoutCache(join(root, 'checkouts-race'), mirrors);
    const dirs = await Promise.all([one.get(project, commits.first), other.get(project, commits.first)]);
    expect(dirs[0]).toBe(dirs[1]);
    expect(one.buildCount + other.buildCount, 'checkouts renamed into place').toBe(1);
    expect(readFileSync(join(dirs[0] ?? '', 'README.md'), 'utf8')).toBe('version 1\n');
    expect(readdirSync(join(root, 'checkouts-race', project)), 'no temp dirs left behind').toEqual([commits.first]);
  });

  it('fetch picks up new commits, deleted branches and a new default branch', async () => {
    const third = commitFiles(source, 'third', { 'README.md': 'version 3\n' });
    git(source, 'branch', '-q', '-D', 'feature');
    git(source, 'checkout', '-q', '-b', 'develop');
    expect((await mirrors.resolve(project, { defaultBranch: 'main' })).commitSha, 'before fetch').toBe(commits.second);
    await mirrors.fetch(project, source, null);
    expect((await mirrors.resolve(project, { defaultBranch: 'main' })).commitSha, 'after fetch').toBe(third);
    expect((await failure(mirrors.resolve(project, { branch: 'feature', defaultBranch: 'main' }))).code, 'pruned branch').toBe('not_found');
    expect(await mirrors.defaultBranch(project)).toBe('develop');
  });

  it('leaves nothing behind when a clone fails, and names the URL', async () => {
    const missing = join(root, 'no-such-repo');
    const error = await failure(mirrors.create('broken', missing, null));
    expect(error.code).toBe('git_failed');
    expect(error.message).toContain(`cloning ${missing}:`);
    expect(readdirSync(join(root, 'mirrors')), 'mirror root after a failed clone').toEqual([`${project}.git`]);
  });

  it('removes a project mirror and its checkouts', async () => {
    await mirrors.create('doomed', source, null);
    const dir = await checkouts.get('doomed', commits.first);
    await checkouts.remove('doomed');
    await mirrors.remove('doomed');
    expect(existsSync(dir), 'checkout after removal').toBe(false);
    expect((await failure(mirrors.resolve('doomed', { defaultBranch: 'main' }))).code).toBe('not_found');
  });
});
