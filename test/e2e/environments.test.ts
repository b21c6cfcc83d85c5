// Project environments (SPEC §9) through the run API, with real builds: Debian, pip and npm packages a model imports,
// one build per environment however many runs and commits use it, and every refusal a clear environment_failed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerBackend } from '../../src/sandbox/docker/docker-backend.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { makeWheelDir, SDIST_SETUP_MARKER, type WheelDir } from '../helpers/python-wheels.ts';
import { installScriptPackage, lockfileFor, plainPackage, type NpmPackage } from '../helpers/npm-packages.ts';
import { startNpmRegistry, type NpmRegistry } from '../helpers/npm-registry.ts';

const BUILD_TIMEOUT_MS = 600_000;

const LEFT_PAD_LOCK = JSON.stringify({
  name: 'padder',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'padder', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } },
    'node_modules/left-pad': {
      version: '1.3.0',
      resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
      integrity: 'sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQGinBN9yTQT3bFlCBy/aVx2HrNcqQGsdot8ghrjyrvMCoEA==',
      license: 'WTFPL',
    },
  },
});

const TABULATE_MODEL = [
  'import socket',
  'from tabulate import tabulate',
  'print(tabulate([["a", 1]], headers=["k", "v"]))',
  'try:',
  '    open("/usr/lib/python3/dist-packages/tabulate.py", "a")',
  '    print("root writable")',
  'except OSError:',
  '    print("root read-only")',
  'try:',
  '    socket.create_connection(("1.1.1.1", 80), timeout=2)',
  '    print("network reachable")',
  'except OSError:',
  '    print("no network")',
  '',
].join('\n');

async function buildsOf(server: TestServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`sandrun_environment_builds_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { ready: count('ready'), failed: count('failed') };
}

describe('environments from the public package sources', () => {
  let server: TestServer;
  let token: string;
  let wheels: WheelDir;
  const repos: TestRepo[] = [];

  const addProject = async (name: string, files: Record<string, string>): Promise<TestRepo> => {
    const repo = new TestRepo(files);
    repos.push(repo);
    const created = await server.request(token, 'POST', '/v1/projects', { name, repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return repo;
  };
  const runSync = (project: string, model: string, extra: Record<string, unknown> = {}) =>
    server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: project, model_name: model, ...extra });

  beforeAll(async () => {
    wheels = await makeWheelDir(mkdtempSync(join(tmpdir(), 'sandrun-wheels-')));
    server = await startTestServer({ SANDRUN_PIP_FIND_LINKS: wheels.dir });
    token = await server.token('envs');
  });
  afterAll(async () => {
    await server?.close();
    for (const repo of repos) repo.remove();
    if (wheels) rmSync(wheels.dir, { recursive: true, force: true });
  });

  it(
    'a model imports a Debian package its project declares; a second run and a commit that changes only code build nothing',
    async () => {
      const repo = await addProject('tab', {
        'sandrun.yaml': 'image: sandrun/python:3.11\nenvironment:\n  apt: [python3-tabulate]\nmodels:\n  table:\n    command: ["python3", "table.py"]\n',
        'table.py': TABULATE_MODEL,
      });
      const submit = () => server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'tab', model_name: 'table' });
      const receipts = await Promise.all([submit(), submit()]);
      for (const receipt of receipts) expect(receipt.status, JSON.stringify(receipt.body)).toBe(202);
      const pending = await server.request(token, 'GET', `/v1/runs/${receipts[0].body.run_id}`);
      if (pending.body.status === 'pending' && pending.body.message !== null) expect(pending.body.message).toMatch(/environment.*python3-tabulate/);
      const [first, twin] = await Promise.all(receipts.map((receipt) => server.waitForRun(token, receipt.body.run_id, { timeoutMs: BUILD_TIMEOUT_MS })));
      expect(first.status, JSON.stringify(first)).toBe('success');
      expect(twin.status, JSON.stringify(twin)).toBe('success');
      expect(first.stdout).toContain('k      v');
      expect(first.stdout, 'the run keeps a read-only root and no network').toContain('root read-only\nno network\n');
      expect(first.message).toBeNull();
      expect(await buildsOf(server), 'two runs at once wait for one build').toEqual({ ready: 1, failed: 0 });
      const { size_bytes: size } = server.sandrun.database.sqlite!.prepare("SELECT size_bytes FROM environments WHERE tenant_id = 'envs'").get() as { size_bytes: number };
      const baseSize = Number(execFileSync('docker', ['image', 'inspect', '--format', '{{.Size}}', 'sandrun/python:3.11'], { encoding: 'utf8' }));
      expect(size - baseSize, 'the image adds the package, not apt\'s lists and caches').toBeLessThan(5 * 1024 * 1024);

      const second = await runSync('tab', 'table');
      expect(second.body.status, JSON.stringify(second.body)).toBe('success');
      repo.commit({ 'table.py': `${TABULATE_MODEL}print("changed")\n` }, 'code only');
      expect((await server.request(token, 'POST', '/v1/projects/tab/refresh')).status).toBe(200);
      const third = await runSync('tab', 'table');
      expect(third.body.status, JSON.stringify(third.body)).toBe('success');
      expect(third.body.stdout).toContain('changed');
      expect(await buildsOf(server), 'one build for four runs of two commits').toEqual({ ready: 1, failed: 0 });
      // The warm pool parks a container of the environment image for the next run (however long it takes to start one).
      const pool = server.sandrun.sandbox as DockerBackend;
      const parkedBy = Date.now() + 120_000;
      while (pool.poolStats.parked === 0 && Date.now() < parkedBy) await new Promise((resolve) => setTimeout(resolve, 200));
      const hitsBefore = pool.poolStats.hits;
      const fromPool = await runSync('tab', 'table');
      expect(fromPool.body.status, JSON.stringify(fromPool.body)).toBe('success');
      expect(pool.poolStats.hits, 'the run was served by a parked container of the environment image').toBe(hitsBefore + 1);
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    'a Node model requires and imports left-pad@1.3.0 from package.json and its lockfile',
    async () => {
      await addProject('pad', {
        'sandrun.yaml': [
          'image: sandrun/node:18',
          'environment:',
          '  npm: package.json',
          'models:',
          '  cjs:',
          '    command: ["node", "-e", "console.log(require(\'left-pad\')(\'7\', 3, \'0\'))"]',
          '  esm:',
          '    command: ["node", "pad.mjs"]',
          '',
        ].join('\n'),
        'package.json': JSON.stringify({ name: 'padder', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } }),
        'package-lock.json': LEFT_PAD_LOCK,
        'pad.mjs': "import leftPad from 'left-pad';\nconsole.log(leftPad('8', 4, '-'));\n",
      });
      const cjs = await runSync('pad', 'cjs');
      expect(cjs.body.status, JSON.stringify(cjs.body)).toBe('success');
      expect(cjs.body.stdout).toBe('007\n');
      const esm = await runSync('pad', 'esm');
      expect(esm.body.status, JSON.stringify(esm.body)).toBe('success');
      expect(esm.body.stdout).toBe('---8\n');
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    "pip installs a wheel from the operator's wheel directory; an sdist-only requirement is environment_failed and its setup never runs",
    async () => {
      await addProject('wheel', {
        'sandrun.yaml': 'environment:\n  pip: requirements.txt\nmodels:\n  hello:\n    command: ["python3", "-c", "import sandrun_hello; print(sandrun_hello.greet(\'env\'))"]\n',
        'requirements.txt': '# from the wheel directory\nsandrun_hello==1.0\n',
      });
      const hello = await runSync('wheel', 'hello');
      expect(hello.body.status, JSON.stringify(hello.body)).toBe('success');
      expect(hello.body.stdout).toBe('hello, env (sandrun_hello 1.0)\n');

      await addProject('sdist', {
        'sandrun.yaml': 'environment:\n  pip: requirements.txt\nmodels:\n  m:\n    command: ["python3", "-c", "print(1)"]\n',
        'requirements.txt': 'sandrun_sdistonly==1.0\n',
      });
      const sdist = await runSync('sdist', 'm');
      expect(sdist.body.status, JSON.stringify(sdist.body)).toBe('error');
      expect(sdist.body.error.code).toBe('environment_failed');
      expect(sdist.body.error.details.log).toMatch(/No matching distribution found for sandrun[_-]sdistonly/i);
      expect(sdist.body.error.details.log).not.toContain(SDIST_SETUP_MARKER);
      expect(sdist.body.exit_code).toBeNull();
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    'a misspelt Debian package and a package.json without its lockfile are clear environment_failed errors; other runs go on',
    async () => {
      await addProject('typo', {
        'sandrun.yaml': 'environment:\n  apt: [python3-tabulatee]\nmodels:\n  m:\n    command: ["python3", "-c", "print(1)"]\n',
      });
      const typo = await runSync('typo', 'm');
      expect(typo.body.status, JSON.stringify(typo.body)).toBe('error');
      expect(typo.body.error).toMatchObject({ code: 'environment_failed' });
      expect(typo.body.error.details.log).toContain('Unable to locate package python3-tabulatee');

      await addProject('nolock', {
        'sandrun.yaml': 'image: sandrun/node:18\nenvironment:\n  npm: package.json\nmodels:\n  m:\n    command: ["node", "-e", "1"]\n',
        'package.json': JSON.stringify({ name: 'x', version: '1.0.0', dependencies: { 'left-pad': '1.3.0' } }),
      });
      const before = await buildsOf(server);
      const nolock = await runSync('nolock', 'm');
      expect(nolock.body.status, JSON.stringify(nolock.body)).toBe('error');
      expect(nolock.body.error.code).toBe('environment_failed');
      expect(nolock.body.error.message).toContain('package-lock.json is missing');
      expect(nolock.body.error.details.log, 'a refusal before any build is its own log').toBe(nolock.body.error.message);
      expect(await buildsOf(server), 'refused before any build').toEqual(before);

      // The server and the other tenants are untouched.
      const bystander = await server.token('bystander');
      const plainRepo = new TestRepo({ 'models/hello.py': 'print("still here")\n' });
      repos.push(plainRepo);
      expect((await server.request(bystander, 'POST', '/v1/projects', { name: 'plain', repo_url: plainRepo.dir })).status).toBe(201);
      const other = await server.request(bystander, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'plain', model_name: 'hello' });
      expect(other.body.status, JSON.stringify(other.body)).toBe('success');
      expect(other.body.stdout).toBe('still here\n');
    },
    BUILD_TIMEOUT_MS,
  );

  it('a manifest naming an apt option or a path outside the repository is refused at submission, naming the line', async () => {
    await addProject('badapt', {
      'sandrun.yaml': 'environment:\n  apt: ["-o=APT::Get::AllowUnauthenticated=1"]\n  pip: ../etc/passwd\nmodels:\n  m:\n    command: ["python3", "-c", "1"]\n',
    });
    const refused = await runSync('badapt', 'm');
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('manifest_invalid');
    expect(refused.body.error.message).toContain("line 2: environment.apt[0]: '-o=APT::Get::AllowUnauthenticated=1' must not start with '-'");
    expect(refused.body.error.message).toContain('environment.pip: must be a relative path inside the repository');
  });
});

/** npm itself, as the operator's registry would serve it (the build takes npm from the same registry as the packages). */
function npmItself(dir: string): NpmPackage {
  execFileSync('npm', ['pack', 'npm@10.8.2', '--pack-destination', dir, '--silent'], { stdio: 'pipe' });
  const file = readdirSync(dir).find((name) => name.startsWith('npm-') && name.endsWith('.tgz'))!;
  const tarball = readFileSync(join(dir, file));
  return {
    name: 'npm',
    version: '10.8.2',
    manifest: { name: 'npm', version: '10.8.2', main: 'index.js', license: 'Artistic-2.0' },
    tarball,
    integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
    shasum: createHash('sha1').update(tarball).digest('hex'),
  };
}

describe("environments from the operator's own registry", () => {
  let server: TestServer;
  let token: string;
  let registry: NpmRegistry;
  let repo: TestRepo;
  let packDir: string;

  beforeAll(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'sandrun-npm-pack-'));
    const plain = await plainPackage();
    const scripted = await installScriptPackage();
    registry = await startNpmRegistry([plain, scripted, npmItself(packDir)]);
    server = await startTestServer({ SANDRUN_NPM_REGISTRY: registry.url, SANDRUN_BUILD_NETWORK: registry.network });
    token = await server.token('scripts');
    const project = lockfileFor([plain, scripted], registry.url);
    repo = new TestRepo({
      'sandrun.yaml': [
        'image: sandrun/node:18',
        'environment:',
        '  npm: app/package.json',
        'models:',
        '  check:',
        '    command: ["node", "app/check.js"]',
        '',
      ].join('\n'),
      'app/package.json': project.packageJson,
      'app/package-lock.json': project.packageLock,
      'app/check.js':
        "const { installScriptRan } = require('sandrun-install-script');\nconsole.log(require('sandrun-plain')('x'), 'installScriptRan=' + installScriptRan());\n",
    });
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'scripts', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => {
    await server?.close();
    await registry?.stop();
    repo?.remove();
    if (packDir) rmSync(packDir, { recursive: true, force: true });
  });

  it(
    "a package's install script does not run during the build, so it reaches nothing; the package itself is installed",
    async () => {
      const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'scripts', model_name: 'check' });
      expect(run.body.status, JSON.stringify(run.body)).toBe('success');
      expect(run.body.stdout).toBe('hello, x (sandrun-plain 1.0.0) installScriptRan=false\n');
      // npm ci from a lockfile fetches tarballs only; the script, had it run, would have asked for the plain packument.
      // (The engine's build cache may have served the whole install: then the registry saw nothing at all.)
      const fetched = (await registry.requests()).map((request) => request.path);
      expect(fetched).not.toContain('/sandrun-plain');
    },
    BUILD_TIMEOUT_MS,
  );
});

describe('environment images no run uses', () => {
  let server: TestServer;
  let token: string;
  let repo: TestRepo;

  beforeAll(async () => {
    // An idle time of about a second, so the test can see the sweep.
    server = await startTestServer({ SANDRUN_ENVIRONMENT_IDLE_DAYS: String(1 / 86_400) });
    token = await server.token('idle');
    repo = new TestRepo({
      'sandrun.yaml': 'environment:\n  apt: [python3-tabulate]\nmodels:\n  m:\n    command: ["python3", "-c", "import tabulate; print(\'ok\')"]\n',
    });
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'idle', repo_url: repo.dir })).status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    repo?.remove();
  });

  it(
    'are removed after the idle time, and the next run builds its environment again',
    async () => {
      const run = () => server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'idle', model_name: 'm' });
      expect((await run()).body.status).toBe('success');
      const images = server.sandrun.sandbox.environments;
      const before = await images.list();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await server.sandrun.environments.sweep()).toBe(1);
      const after = new Set(await images.list());
      const removed = before.filter((tag) => !after.has(tag));
      expect(removed, 'the one environment image of this server, and no other').toHaveLength(1);
      expect(removed[0]).toMatch(/^sandrun\/env:[0-9a-f]{40}$/);
      const again = await run();
      expect(again.body.status, JSON.stringify(again.body)).toBe('success');
      expect(await buildsOf(server)).toEqual({ ready: 2, failed: 0 });
    },
    BUILD_TIMEOUT_MS,
  );
});

describe("a tenant's number of environments", () => {
  let server: TestServer;
  const repos: TestRepo[] = [];

  afterAll(async () => {
    await server?.close();
    for (const repo of repos) repo.remove();
  });

  it(
    'is capped by SANDRUN_TENANT_MAX_ENVIRONMENTS: a new environment replaces the least recently used one, not another tenant\'s',
    async () => {
      server = await startTestServer({ SANDRUN_TENANT_MAX_ENVIRONMENTS: '1' });
      const add = async (token: string, name: string, apt: string) => {
        const repo = new TestRepo({ 'sandrun.yaml': `environment:\n  apt: [${apt}]\nmodels:\n  m:\n    command: ["python3", "-c", "print(1)"]\n` });
        repos.push(repo);
        expect((await server.request(token, 'POST', '/v1/projects', { name, repo_url: repo.dir })).status).toBe(201);
        const run = await server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: name, model_name: 'm' });
        expect(run.body.status, JSON.stringify(run.body)).toBe('success');
      };
      const environments = () =>
        server.sandrun.database.sqlite!.prepare('SELECT tenant_id AS tenant, tag FROM environments ORDER BY tenant_id').all() as Array<{ tenant: string; tag: string }>;
      const one = await server.token('one');
      const other = await server.token('other');
      await add(other, 'theirs', 'python3-tabulate');
      await add(one, 'first', 'python3-tabulate');
      const [firstOfOne, ofOther] = environments();
      expect(firstOfOne!.tag, 'the same packages for two tenants are two images').not.toBe(ofOther!.tag);
      await add(one, 'second', 'python3-six');
      const [secondOfOne, stillOther] = environments();
      expect(stillOther, "the other tenant's environment stays").toEqual(ofOther);
      expect(secondOfOne!.tag).not.toBe(firstOfOne!.tag);
      const onEngine = await server.sandrun.sandbox.environments.list();
      expect(onEngine, "the tenant's older image is gone from the engine").not.toContain(firstOfOne!.tag);
      expect(onEngine).toEqual(expect.arrayContaining([secondOfOne!.tag, ofOther!.tag]));
      expect(await buildsOf(server)).toEqual({ ready: 3, failed: 0 });
    },
    BUILD_TIMEOUT_MS,
  );
});

describe('the build caps', () => {
  let repo: TestRepo;
  const servers: TestServer[] = [];

  beforeAll(() => {
    // python3-six beside tabulate: an environment no other test builds, so no build cache answers for it.
    repo = new TestRepo({
      'sandrun.yaml': 'environment:\n  apt: [python3-tabulate, python3-six]\nmodels:\n  m:\n    command: ["python3", "-c", "import six; print(1)"]\n',
    });
  });
  afterAll(async () => {
    for (const server of servers) await server.close();
    repo?.remove();
  });

  const runWith = async (env: Record<string, string>) => {
    const server = await startTestServer(env);
    servers.push(server);
    const token = await server.token('caps');
    expect((await server.request(token, 'POST', '/v1/projects', { name: 'caps', repo_url: repo.dir })).status).toBe(201);
    return server.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'caps', model_name: 'm' });
  };

  it(
    'a build past SANDRUN_BUILD_TIMEOUT_SECONDS is stopped: environment_failed naming the setting, and no build container left running',
    async () => {
      const run = await runWith({ SANDRUN_BUILD_TIMEOUT_SECONDS: '1' });
      expect(run.body.status, JSON.stringify(run.body)).toBe('error');
      expect(run.body.error.code).toBe('environment_failed');
      expect(run.body.error.message).toContain('did not finish within 1 s (SANDRUN_BUILD_TIMEOUT_SECONDS)');
      // The engine removes a stopped build's container once it notices the client went away.
      const deadline = Date.now() + 60_000;
      let running = '';
      do {
        running = execFileSync('docker', ['ps', '--filter', 'status=running', '--format', '{{.Command}}'], { encoding: 'utf8' });
        if (!running.includes('apt-get')) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      } while (Date.now() < deadline);
      expect(running, 'no apt-get of the stopped build still running').not.toContain('apt-get');
    },
    BUILD_TIMEOUT_MS,
  );

  it(
    'an image larger than SANDRUN_BUILD_MAX_IMAGE_MB is refused and removed',
    async () => {
      const run = await runWith({ SANDRUN_BUILD_MAX_IMAGE_MB: '1' });
      expect(run.body.status, JSON.stringify(run.body)).toBe('error');
      expect(run.body.error.code).toBe('environment_failed');
      expect(run.body.error.message).toMatch(/the environment image is \d+ MB, more than the 1 MB an environment may take \(SANDRUN_BUILD_MAX_IMAGE_MB\); it was removed/);
    },
    BUILD_TIMEOUT_MS,
  );
});

describe('a restart while an environment builds', () => {
  const suffix = `${process.pid}-${Date.now()}`;
  const network = `sandrun-test-hang-${suffix}`;
  const container = `sandrun-test-hang-${suffix}`;
  let repo: TestRepo;
  let wheels: WheelDir;
  let dataDir: string;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    // A package index that accepts connections and never answers: the build waits on it until stopped.
    execFileSync('docker', ['network', 'create', '--label', 'sandrun.test=1', network]);
    execFileSync('docker', ['run', '-d', '--rm', '--name', container, '--label', 'sandrun.test=1', '--network', network, '--network-alias', 'hang', '--read-only', 'sandrun/node:18', 'node', '-e', "require('net').createServer(() => {}).listen(8080)"]);
    wheels = await makeWheelDir(mkdtempSync(join(tmpdir(), 'sandrun-wheels-')));
    dataDir = mkdtempSync(join(tmpdir(), 'sandrun-restart-env-'));
    repo = new TestRepo({
      'sandrun.yaml': 'environment:\n  pip: requirements.txt\nmodels:\n  hello:\n    command: ["python3", "-c", "import sandrun_hello; print(sandrun_hello.greet(\'again\'))"]\n',
      'requirements.txt': 'sandrun_hello==1.0\n',
    });
  });
  afterAll(async () => {
    for (const server of servers) await server.close().catch(() => undefined);
    execFileSync('docker', ['rm', '-f', container], { stdio: 'ignore' });
    execFileSync('docker', ['network', 'rm', network], { stdio: 'ignore' });
    repo?.remove();
    if (wheels) rmSync(wheels.dir, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'holds the build step to SANDRUN_BUILD_MEMORY_MB; a stop stops the build, keeps its run pending, and the next start builds and runs it',
    async () => {
      const first = await startTestServer(
        { SANDRUN_PIP_INDEX_URL: 'http://hang:8080/simple', SANDRUN_BUILD_NETWORK: network, SANDRUN_BUILD_MEMORY_MB: '300' },
        { dataDir },
      );
      servers.push(first);
      const token = await first.token('restart');
      expect((await first.request(token, 'POST', '/v1/projects', { name: 'again', repo_url: repo.dir })).status).toBe(201);
      const receipt = await first.request(token, 'POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'again', model_name: 'hello' });
      expect(receipt.status).toBe(202);
      const deadline = Date.now() + 120_000;
      let pending = await first.request(token, 'GET', `/v1/runs/${receipt.body.run_id}`);
      while (!/environment/.test(pending.body.message ?? '') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        pending = await first.request(token, 'GET', `/v1/runs/${receipt.body.run_id}`);
      }
      expect(pending.body).toMatchObject({ status: 'pending', message: expect.stringContaining('pip: requirements.txt') });
      // The pip step waits on the silent index: its container is there to inspect.
      let step: string | undefined;
      while (!step && Date.now() < deadline) {
        step = execFileSync('docker', ['ps', '--filter', 'status=running', '--no-trunc', '--format', '{{.ID}} {{.Command}}'], { encoding: 'utf8' })
          .split('\n')
          .find((line) => line.includes('pip install') && line.includes('hang:8080'))
          ?.split(' ')[0];
        if (!step) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const limits = JSON.parse(execFileSync('docker', ['inspect', '--format', '{{json .HostConfig}}', step!], { encoding: 'utf8' }));
      expect({ memory: limits.Memory, swap: limits.MemorySwap }, 'the step has the build memory cap, swap included').toEqual({ memory: 300 * 1024 * 1024, swap: 300 * 1024 * 1024 });
      await first.close();
      // The engine stops and removes the step once it notices its client went away.
      const stepLeft = () => execFileSync('docker', ['ps', '-a', '--filter', `id=${step}`, '--format', '{{.ID}}'], { encoding: 'utf8' }).trim();
      const gone = Date.now() + 60_000;
      while (stepLeft() !== '' && Date.now() < gone) await new Promise((resolve) => setTimeout(resolve, 500));
      expect(stepLeft(), 'the stopped build step is removed').toBe('');

      const second = await startTestServer({ SANDRUN_PIP_FIND_LINKS: wheels.dir }, { dataDir });
      servers.push(second);
      const run = await second.waitForRun(token, receipt.body.run_id, { timeoutMs: BUILD_TIMEOUT_MS });
      expect(run.status, JSON.stringify(run)).toBe('success');
      expect(run.stdout).toBe('hello, again (sandrun_hello 1.0)\n');
    },
    BUILD_TIMEOUT_MS,
  );
});
