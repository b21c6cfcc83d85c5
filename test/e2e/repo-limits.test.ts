// SPEC §14 for repositories: no tenant fills the host's disk or inodes, or its git capacity, through its projects.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, linkSync, mkdtempSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const MiB = 1024 * 1024;

function git(repo: TestRepo, args: string[], input?: string | Buffer): string {
  return execFileSync('git', args, { cwd: repo.dir, input, encoding: 'utf8' }).trim();
}

/** A new commit on `branch`: its head's files plus `entries` (mktree lines) at the root. */
function commitTree(repo: TestRepo, entries: string, branch = 'main'): string {
  const tree = git(repo, ['mktree'], `${git(repo, ['ls-tree', `refs/heads/${branch}`])}\n${entries}`);
  const commit = git(repo, ['commit-tree', tree, '-p', `refs/heads/${branch}`, '-m', 'expands']);
  git(repo, ['update-ref', `refs/heads/${branch}`, commit]);
  return commit;
}

/** `copies` files that all share one blob of `blobBytes` zero bytes: a few KB in git, copies × blobBytes on disk. */
function expandingBytes(repo: TestRepo, copies: number, blobBytes: number): string {
  const blob = git(repo, ['hash-object', '-w', '--stdin'], Buffer.alloc(blobBytes));
  return Array.from({ length: copies }, (_, i) => `100644 blob ${blob}\tzeros-${String(i).padStart(4, '0')}.bin\n`).join('');
}

/** outer × inner empty files through one shared subtree: a few KB in git, outer × inner inodes on disk. */
function expandingFiles(repo: TestRepo, outer: number, inner: number): string {
  const empty = git(repo, ['hash-object', '-w', '--stdin'], '');
  const subtree = git(repo, ['mktree'], Array.from({ length: inner }, (_, i) => `100644 blob ${empty}\tf${i}\n`).join(''));
  return Array.from({ length: outer }, (_, i) => `040000 tree ${subtree}\td${i}\n`).join('');
}

/** What the data directory holds of mirrors and checkouts (leftover temp dirs included). */
function repositoryFiles(dataDir: string): string[] {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : []);
  return [...list(join(dataDir, 'mirrors')), ...list(join(dataDir, 'checkouts')).flatMap((dir) => [dir, ...list(dir)])];
}

/**
 * A repository whose clone blocks until released, deterministically: its objects/info/alternates is a FIFO, which
 * git's upload-pack opens (and blocks on) during the clone. `waitUntilCloning` returns once git has it open.
 */
class BlockingRepo {
  readonly repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
  private readonly fifo = join(this.repo.dir, '.git', 'objects', 'info', 'alternates');
  private readonly handle = join(mkdtempSync(join(tmpdir(), 'sandrun-fifo-')), 'gate');
  private writer: number | undefined;

  constructor() {
    execFileSync('mkfifo', [this.fifo]);
    linkSync(this.fifo, this.handle);
  }

  async waitUntilCloning(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.writer === undefined) {
      try {
        // Without a reader this fails with ENXIO; with one, git's open returns and its read waits for our close.
        this.writer = openSync(this.handle, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
        if (Date.now() > deadline) throw new Error(`git did not start cloning ${this.repo.dir} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Later readers find an empty regular file; the blocked one reads end-of-file: no alternates, the clone goes on. */
  release(): void {
    const plain = `${this.fifo}.plain`;
    writeFileSync(plain, '');
    renameSync(plain, this.fifo);
    if (this.writer !== undefined) closeSync(this.writer);
    this.writer = undefined;
  }

  remove(): void {
    this.release();
    rmSync(join(this.handle, '..'), { recursive: true, force: true });
    this.repo.remove();
  }
}

const servers: TestServer[] = [];
const repos: Array<{ remove(): void }> = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
afterAll(() => {
  for (const repo of repos.splice(0)) repo.remove();
});

async function server(env: Record<string, string> = {}, options: { dataDir?: string } = {}): Promise<TestServer> {
  const started = await startTestServer(env, options);
  servers.push(started);
  return started;
}

function repo(files: Record<string, string> = { 'models/hello.py': 'print("hello")\n' }): TestRepo {
  const made = new TestRepo(files);
  repos.push(made);
  return made;
}

describe('repository size and file count (repo_too_large)', () => {
  it('refuses a small repository whose checkout would pass the size cap, and leaves no files of it', async () => {
    const s = await server({ SANDRUN_REPO_MAX_MB: '5' });
    const source = repo();
    // 100 files sharing one 10 MiB blob of zeros: ~10 KB to clone, 1000 MiB to check out.
    commitTree(source, expandingBytes(source, 100, 10 * MiB));
    const token = await s.token('big-bytes');
    const refused = await s.request(token, 'POST', '/v1/projects', { name: 'big', repo_url: source.dir });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.code).toBe('repo_too_large');
    expect(refused.body.error.message).toMatch(/more than 5\.0 MiB .*SANDRUN_REPO_MAX_MB.*at least \d+\.\d MiB/);
    expect(repositoryFiles(s.dataDir), 'mirror and checkout files left behind').toEqual([]);
    expect((await s.request(token, 'GET', '/v1/projects')).body.projects).toEqual([]);
  });

  it('refuses a small repository whose checkout would pass the file-count cap, and leaves no files of it', async () => {
    const s = await server({ SANDRUN_REPO_MAX_FILES: '1000' });
    const source = repo();
    // 200 directories sharing one subtree of 500 empty files: 100,000 files from a few KB.
    commitTree(source, expandingFiles(source, 200, 500));
    const token = await s.token('big-files');
    const refused = await s.request(token, 'POST', '/v1/projects', { name: 'many', repo_url: source.dir });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.code).toBe('repo_too_large');
    expect(refused.body.error.message).toMatch(/more than 1000 files \(SANDRUN_REPO_MAX_FILES\): at least 1001/);
    expect(repositoryFiles(s.dataDir), 'mirror and checkout files left behind').toEqual([]);
  });

  it('undoes a refresh that brings in a commit past the cap: the project stays at its old commit and still runs', async () => {
    const s = await server({ SANDRUN_REPO_MAX_MB: '5' });
    const source = repo();
    const token = await s.token('refresh-big');
    const created = await s.request(token, 'POST', '/v1/projects', { name: 'grows', repo_url: source.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const oldCommit = created.body.commit_sha;
    const bigCommit = commitTree(source, expandingBytes(source, 100, 10 * MiB));

    const refused = await s.request(token, 'POST', '/v1/projects/grows/refresh');
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.code).toBe('repo_too_large');
    expect(refused.body.error.message).toMatch(/refresh was undone/);
    expect((await s.request(token, 'GET', '/v1/projects/grows')).body.commit_sha, 'default branch after the refused refresh').toBe(oldCommit);
    const mirror = readdirSync(join(s.dataDir, 'mirrors')).map((name) => join(s.dataDir, 'mirrors', name));
    expect(mirror).toHaveLength(1);
    const present = (sha: string) => execFileSync('git', ['--git-dir', mirror[0]!, 'cat-file', '-t', sha], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    expect(() => present(bigCommit), 'the refused commit is dropped from the mirror').toThrow();
    const run = await s.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'grows', model_name: 'hello' });
    expect(run.body, JSON.stringify(run.body)).toMatchObject({ status: 'success', commit_sha: oldCommit });
  });

  it('refuses a run of a commit past the cap on another branch, before checking anything out', async () => {
    const s = await server({ SANDRUN_REPO_MAX_FILES: '1000' });
    const source = repo();
    source.git('branch', 'huge');
    const hugeCommit = commitTree(source, expandingFiles(source, 200, 500), 'huge');
    const token = await s.token('branch-big');
    expect((await s.request(token, 'POST', '/v1/projects', { name: 'mixed', repo_url: source.dir })).status).toBe(201);
    for (const mode of ['sync', 'async']) {
      const refused = await s.request(token, 'POST', '/v1/runs', { scope: 'model', mode, project_name: 'mixed', model_name: 'hello', branch: 'huge' });
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
      expect(refused.body.error).toMatchObject({ code: 'repo_too_large', details: { commit_sha: hugeCommit } });
    }
    expect(repositoryFiles(s.dataDir).filter((path) => path.includes(hugeCommit)), 'checkout of the refused commit').toEqual([]);
  });
});

describe('sandrun.yaml size and shape', () => {
  it('refuses a 2 MB sandrun.yaml as manifest_invalid naming its size and the cap, without parsing it', async () => {
    const s = await server();
    const padding = Array.from({ length: 2 * 1024 }, (_, i) => `# ${String(i).padStart(6, '0')} ${'x'.repeat(1013)}`).join('\n');
    const source = repo({ 'sandrun.yaml': `command: [python, main.py]\n${padding}\n`, 'main.py': 'print(1)\n' });
    const token = await s.token('manifest-size');
    const created = await s.request(token, 'POST', '/v1/projects', { name: 'fat', repo_url: source.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.manifest_error?.message).toMatch(/^sandrun\.yaml is 209\d{4} bytes, more than the 65536 bytes a manifest may have \(SANDRUN_MANIFEST_MAX_BYTES\)/);
    const run = await s.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: 'fat' });
    expect(run.status, JSON.stringify(run.body)).toBe(422);
    expect(run.body.error.code).toBe('manifest_invalid');
    expect(run.body.error.details).toMatchObject({ file: 'sandrun.yaml', max_bytes: 65536 });
  });

  it('refuses a YAML alias bomb and a deeply nested sandrun.yaml as manifest_invalid, and keeps serving', async () => {
    const s = await server();
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let level = 1; level < 12; level += 1) {
      const [previous, name] = [String.fromCharCode(96 + level), String.fromCharCode(97 + level)];
      laughs.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const bomb = repo({ 'sandrun.yaml': `${laughs.join('\n')}\n` });
    const deep = repo({ 'sandrun.yaml': `command:\n${'- '.repeat(5000)}x\n` });
    const token = await s.token('manifest-bombs');
    for (const [name, source, reason] of [
      ['bomb', bomb, /expands aliases more than 100 times/],
      ['deep', deep, /nests too deeply|took longer than/],
    ] as const) {
      const created = await s.request(token, 'POST', '/v1/projects', { name, repo_url: source.dir });
      expect(created.status, `${name}: ${JSON.stringify(created.body)}`).toBe(201);
      expect(created.body.manifest_error?.message, name).toMatch(reason);
      const run = await s.request(token, 'POST', '/v1/runs', { scope: 'project', mode: 'sync', project_name: name });
      expect(run.status, `${name}: ${JSON.stringify(run.body)}`).toBe(422);
      expect(run.body.error.code).toBe('manifest_invalid');
    }
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });
});

describe('projects per tenant', () => {
  it('refuses the registration past the cap with 409, leaves other tenants alone, and allows one again after a removal', async () => {
    const s = await server({ SANDRUN_TENANT_MAX_PROJECTS: '2' });
    const source = repo();
    const [full, other] = [await s.token('projects-full'), await s.token('projects-other')];
    for (const name of ['one', 'two']) expect((await s.request(full, 'POST', '/v1/projects', { name, repo_url: source.dir })).status).toBe(201);
    const refused = await s.request(full, 'POST', '/v1/projects', { name: 'three', repo_url: source.dir });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'conflict', details: { limit: 'tenant_projects', max: 2, count: 2 } });
    expect(refused.body.error.message).toMatch(/already has 2 projects.*SANDRUN_TENANT_MAX_PROJECTS=2/);
    expect(readdirSync(join(s.dataDir, 'mirrors')), 'only the two registered mirrors').toHaveLength(2);
    expect((await s.request(other, 'POST', '/v1/projects', { name: 'three', repo_url: source.dir })).status, 'another tenant').toBe(201);
    expect((await s.request(full, 'DELETE', '/v1/projects/one')).status).toBe(204);
    expect((await s.request(full, 'POST', '/v1/projects', { name: 'three', repo_url: source.dir })).status, 'after a removal').toBe(201);
  });
});

describe('clones at once', () => {
  it('refuses a clone past the per-tenant and the server-wide cap at once with 429 and Retry-After, and accepts it once a slot is free', async () => {
    const s = await server({ SANDRUN_TENANT_MAX_CONCURRENT_CLONES: '1', SANDRUN_MAX_CONCURRENT_CLONES: '2' });
    const [first, second] = [new BlockingRepo(), new BlockingRepo()];
    repos.push(first, second);
    const plain = repo();
    const [a, b, c] = [await s.token('clones-a'), await s.token('clones-b'), await s.token('clones-c')];
    const slowA = s.request(a, 'POST', '/v1/projects', { name: 'slow', repo_url: first.repo.dir });
    try {
      await first.waitUntilCloning();
      const perTenant = await s.request(a, 'POST', '/v1/projects', { name: 'quick', repo_url: plain.dir });
      expect(perTenant.status, JSON.stringify(perTenant.body)).toBe(429);
      expect(perTenant.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 'tenant_concurrent_clones', max: 1 } });
      expect(perTenant.body.error.message).toMatch(/SANDRUN_TENANT_MAX_CONCURRENT_CLONES=1/);
      expect(perTenant.headers.get('retry-after')).toBe('10');

      const slowB = s.request(b, 'POST', '/v1/projects', { name: 'slow', repo_url: second.repo.dir });
      try {
        await second.waitUntilCloning();
        const serverWide = await s.request(c, 'POST', '/v1/projects', { name: 'quick', repo_url: plain.dir });
        expect(serverWide.status, JSON.stringify(serverWide.body)).toBe(429);
        expect(serverWide.body.error).toMatchObject({ code: 'rate_limited', details: { limit: 'concurrent_clones', max: 2 } });
        expect(serverWide.body.error.message).toMatch(/SANDRUN_MAX_CONCURRENT_CLONES=2/);
      } finally {
        second.release();
      }
      expect((await slowB).status, 'the blocked registration of tenant b, released').toBe(201);
    } finally {
      first.release();
    }
    expect((await slowA).status, 'the blocked registration of tenant a, released').toBe(201);
    expect((await s.request(a, 'POST', '/v1/projects', { name: 'quick', repo_url: plain.dir })).status, 'once the slot is free').toBe(201);
    expect((await s.request(c, 'POST', '/v1/projects', { name: 'quick', repo_url: plain.dir })).status).toBe(201);
  });
});

describe('disk guard', () => {
  it('refuses registration and refresh with 503 disk_full when the data disk is below the floor', async () => {
    const source = repo();
    const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-data-'));
    repos.push({ remove: () => rmSync(dataDir, { recursive: true, force: true }) });
    const registered = await server({}, { dataDir });
    const tokenThere = await registered.token('disk-floor');
    expect((await registered.request(tokenThere, 'POST', '/v1/projects', { name: 'kept', repo_url: source.dir })).status).toBe(201);
    await registered.close();
    servers.splice(servers.indexOf(registered), 1);

    const full = await server({ SANDRUN_MIN_FREE_MB: String(1024 * 1024 * 1024) }, { dataDir });
    const fullToken = await full.token('disk-floor');
    const mirrorsBefore = readdirSync(join(dataDir, 'mirrors'));
    const refused = await full.request(fullToken, 'POST', '/v1/projects', { name: 'new', repo_url: source.dir });
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body.error.code).toBe('disk_full');
    expect(refused.body.error.message).toMatch(/below the \d+ MiB floor \(SANDRUN_MIN_FREE_MB\); no run is accepted and no repository cloned or fetched/);
    const refresh = await full.request(fullToken, 'POST', '/v1/projects/kept/refresh');
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(503);
    expect(refresh.body.error.code).toBe('disk_full');
    expect(readdirSync(join(dataDir, 'mirrors')), 'no new mirror').toEqual(mirrorsBefore);
  });
});
