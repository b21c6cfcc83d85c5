// Server-side git fetches over real HTTP(S) on loopback: where they may go, what a client is told, and whose identity git uses.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILES, TestRepo } from '../helpers/git-repo.ts';
import { REMOTE_MARKER, bareCopy, startGitHttpsServer, type GitHttpsServer } from '../helpers/git-https-server.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { makeSshKey, startSshGitServer, type SshGitServer, type SshKeyPair } from '../helpers/ssh-git-server.ts';

/** A TCP port that counts who connects to it (and answers them with text a client must never see). */
async function startListener(host: string): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.end(`SSH-2.0-${REMOTE_MARKER}\r\nHTTP/1.1 500 ${REMOTE_MARKER}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Collects a server's log lines. */
function logCollector(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    }),
    text: () => chunks.join(''),
  };
}

/** Every file of a directory tree, concatenated (the database with its WAL, a mirror's config and packs). */
function allBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) parts.push(readFileSync(join(entry.parentPath, entry.name)));
  }
  return Buffer.concat(parts);
}

const basic = (username: string, token: string): string => `Basic ${Buffer.from(`${username}:${token}`).toString('base64')}`;

describe('repository URLs that lead into the server’s own network', () => {
  let server: TestServer;
  let v4: Awaited<ReturnType<typeof startListener>>;
  let v6: Awaited<ReturnType<typeof startListener>>;

  beforeAll(async () => {
    v4 = await startListener('127.0.0.1');
    v6 = await startListener('::1');
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
    await v4?.close();
    await v6?.close();
  });

  it('are refused, naming the host and the reason, before any connection is made', async () => {
    const token = await server.token('acme');
    // Loopback first: they are the ones a listener can watch (nothing here ever connects anywhere else).
    const cases: Array<[string, RegExp]> = [
      [`https://127.0.0.1:${v4.port}/x.git`, /^repo_url host 127\.0\.0\.1 resolves to a loopback address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it$/],
      [`https://[::1]:${v6.port}/x.git`, /^repo_url host ::1 resolves to a loopback address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1/],
      [`https://localhost:${v4.port}/x.git`, /^repo_url host localhost resolves to a loopback address \((127\.0\.0\.1|::1)\)/],
      [`https://[::ffff:127.0.0.1]:${v4.port}/x.git`, /^repo_url host ::ffff:7f00:1 resolves to a loopback address/],
      [`ssh://git@127.0.0.1:${v4.port}/x.git`, /^repo_url host 127\.0\.0\.1 resolves to a loopback address/],
      ['git@localhost:acme/x.git', /^repo_url host localhost resolves to a loopback address/],
      ['https://169.254.169.254/x.git', /^repo_url host 169\.254\.169\.254 resolves to the cloud metadata address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1/],
      ['https://[fd00:ec2::254]/x.git', /^repo_url host fd00:ec2::254 resolves to the cloud metadata address/],
      ['https://169.254.1.1/x.git', /resolves to a link-local address/],
      ['https://10.0.0.1/x.git', /resolves to a private address/],
      ['https://192.168.1.1/x.git', /resolves to a private address/],
      ['https://0.0.0.0/x.git', /resolves to an unspecified address/],
    ];
    for (const [repoUrl, reason] of cases) {
      const response = await server.request(token, 'POST', '/v1/projects', { name: 'probe', repo_url: repoUrl });
      expect(response.status, `${repoUrl}: ${JSON.stringify(response.body)}`).toBe(400);
      expect(response.body.error.code).toBe('invalid_request');
      expect(response.body.error.message, repoUrl).toMatch(reason);
      expect(v4.connections() + v6.connections(), `connections to the loopback listeners after ${repoUrl}`).toBe(0);
    }
    expect((await server.request(token, 'GET', '/v1/projects')).body.projects, 'nothing registered').toEqual([]);
  });
});

describe('with SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1', () => {
  let server: TestServer;
  let listener: Awaited<ReturnType<typeof startListener>>;
  let host: GitHttpsServer;
  let logs: ReturnType<typeof logCollector>;

  beforeAll(async () => {
    listener = await startListener('127.0.0.1');
    host = await startGitHttpsServer();
    logs = logCollector();
    server = await startTestServer(
      { SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_GIT_CA_FILE: host.caFile, SANDRUN_LOG_LEVEL: 'debug' },
      { logs: logs.stream },
    );
  });
  afterAll(async () => {
    await server?.close();
    await listener?.close();
    await host?.close();
  });

  it('a loopback repository is fetched, and its failure reaches the client in sandrun’s words, not the remote’s', async () => {
    const token = await server.token('acme');
    const tls = await server.request(token, 'POST', '/v1/projects', { name: 'probe', repo_url: `https://127.0.0.1:${listener.port}/x.git` });
    expect(listener.connections(), 'the listener was connected to').toBeGreaterThan(0);
    expect(tls.status, JSON.stringify(tls.body)).toBe(422);
    expect(tls.body.error.code).toBe('git_failed');
    expect(tls.body.error.message).toBe(`cloning https://127.0.0.1:${listener.port}/x.git: the TLS connection to the repository host failed (certificate or protocol error)`);

    const refused = await server.request(token, 'POST', '/v1/projects', { name: 'probe', repo_url: `https://localhost:${host.port}/missing.git` });
    expect(host.requests.length, 'the git host was asked').toBeGreaterThan(0);
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(JSON.stringify(refused.body), 'the answer').not.toContain(REMOTE_MARKER);
    expect(refused.body.error.message).toMatch(/^cloning https:\/\/localhost:\d+\/missing\.git: /);
    expect(logs.text(), 'the server log keeps what the remote said').toContain(REMOTE_MARKER);
  });

  it('a redirect is not followed', async () => {
    const token = await server.token('acme');
    const target = new TestRepo(DEMO_FILES);
    const bare = bareCopy(target.dir);
    host.serve('moved', bare);
    try {
      // 127.0.0.1 and localhost are one server: a redirect from one name to the other would be followed by default.
      const redirecting = await startRedirector(`https://localhost:${host.port}/moved.git`);
      try {
        const response = await server.request(token, 'POST', '/v1/projects', { name: 'redirected', repo_url: `https://localhost:${redirecting.port}/old.git` });
        expect(response.status, JSON.stringify(response.body)).toBe(422);
        expect(response.body.error.message).toMatch(/answered with a redirect, which sandrun does not follow/);
        expect(host.requests.filter((request) => request.path.startsWith('/moved.git')), 'requests that followed the redirect').toEqual([]);
      } finally {
        await redirecting.close();
      }
    } finally {
      target.remove();
      rmSync(bare, { recursive: true, force: true });
    }
  });

  async function startRedirector(location: string): Promise<{ port: number; close: () => Promise<void> }> {
    const { createServer: createHttpsServer } = await import('node:https');
    const redirector = createHttpsServer({ key: readFileSync(join(host.caFile, '..', 'key.pem')), cert: readFileSync(host.caFile) }, (request, response) => {
      response.writeHead(301, { location: `${location}${(request.url ?? '').replace(/^\/old\.git/, '')}` }).end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    return {
      port: (redirector.address() as AddressInfo).port,
      close: async () => {
        redirector.closeAllConnections();
        await new Promise<void>((resolve) => redirector.close(() => resolve()));
      },
    };
  }
});

describe('the operator’s own git identity', () => {
  let server: TestServer;
  let host: GitHttpsServer;
  let operatorHome: string;
  let local: TestRepo;
  let privateRepo: TestRepo;
  let bare: string;
  const saved = { HOME: process.env.HOME, GIT_SSL_CAINFO: process.env.GIT_SSL_CAINFO };

  beforeAll(async () => {
    host = await startGitHttpsServer();
    local = new TestRepo(DEMO_FILES);
    privateRepo = new TestRepo(DEMO_FILES);
    bare = bareCopy(privateRepo.dir);
    // Only the operator's password opens this repository.
    host.serve('private', bare, basic('operator', 'operator-secret'));
    operatorHome = mkdtempSync(join(tmpdir(), 'sandrun-operator-home-'));
    const marker = join(operatorHome, 'helper-was-called');
    writeFileSync(
      join(operatorHome, '.gitconfig'),
      [
        `[url "${local.dir}"]`,
        `\tinsteadOf = https://localhost:${host.port}/rewritten.git`,
        '[credential]',
        `\thelper = "!f() { touch '${marker}'; echo username=operator; echo password=operator-secret; }; f"`,
        '[http]',
        `\tsslCAInfo = ${host.caFile}`,
        '',
      ].join('\n'),
    );
    // The server process's own environment, as an operator who starts sandrun from their shell has it.
    process.env.HOME = operatorHome;
    process.env.GIT_SSL_CAINFO = host.caFile;
    server = await startTestServer({ SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_GIT_CA_FILE: host.caFile });
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await server?.close();
    await host?.close();
    local?.remove();
    privateRepo?.remove();
    if (bare) rmSync(bare, { recursive: true, force: true });
    if (operatorHome) rmSync(operatorHome, { recursive: true, force: true });
  });

  it('neither the operator’s git configuration nor its credential helper is used', async () => {
    const token = await server.token('acme');
    const rewritten = await server.request(token, 'POST', '/v1/projects', { name: 'rewritten', repo_url: `https://localhost:${host.port}/rewritten.git` });
    expect(rewritten.status, `the operator's url.insteadOf would have cloned ${local.dir}: ${JSON.stringify(rewritten.body)}`).toBe(422);

    const helped = await server.request(token, 'POST', '/v1/projects', { name: 'private', repo_url: `https://127.0.0.1:${host.port}/private.git` });
    expect(existsSync(join(operatorHome, 'helper-was-called')), "the operator's credential helper was called").toBe(false);
    expect(host.requests.map((request) => request.authorization).filter(Boolean), 'credentials sent to the git host').toEqual([]);
    expect(helped.status, JSON.stringify(helped.body)).toBe(422);
    expect(helped.body.error.message).toBe(`cloning https://127.0.0.1:${host.port}/private.git: repository not found or access denied`);
  });
});

describe('repository credentials', () => {
  let server: TestServer;
  let host: GitHttpsServer;
  let logs: ReturnType<typeof logCollector>;
  let repo: TestRepo;
  let bare: string;
  const secretToken = 'tok-5e3c2b1a9d8f7e6d';
  const otherToken = 'tok-url-4b3a29d8c7e6';

  beforeAll(async () => {
    host = await startGitHttpsServer();
    repo = new TestRepo(DEMO_FILES);
    bare = bareCopy(repo.dir);
    host.serve('needs-token', bare, basic('x-access-token', secretToken));
    host.serve('needs-user', bare, basic('deploy', otherToken));
    logs = logCollector();
    server = await startTestServer(
      { SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_GIT_CA_FILE: host.caFile, SANDRUN_LOG_LEVEL: 'trace' },
      { logs: logs.stream },
    );
  });
  afterAll(async () => {
    await server?.close();
    await host?.close();
    repo?.remove();
    if (bare) rmSync(bare, { recursive: true, force: true });
  });

  it('a project registered with an https token clones and refreshes a repository that needs it', async () => {
    const token = await server.token('acme');
    const repoUrl = `https://localhost:${host.port}/needs-token.git`;
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'private', repo_url: repoUrl, credential: { type: 'https_token', token: secretToken } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ name: 'private', repo_url: repoUrl, credential: { type: 'https_token' }, models: ['revenue', 'summary'] });
    const head = repo.commit({ 'models/extra.py': 'print("extra")\n' });
    repo.git('push', '--quiet', bare, 'main');
    host.serve('needs-token', bare, basic('x-access-token', secretToken));
    const refreshed = await server.request(token, 'POST', '/v1/projects/private/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    expect(refreshed.body.commit_sha, 'the refresh fetched the new commit').toBe(head);

    const wrong = await server.request(token, 'POST', '/v1/projects', { name: 'wrong', repo_url: repoUrl, credential: { type: 'https_token', token: 'not-it' } });
    expect(wrong.status, JSON.stringify(wrong.body)).toBe(422);
    expect(wrong.body.error.message).toBe(`cloning ${repoUrl}: repository not found or access denied`);
  });

  it('a URL with user:token in it is registered with the token moved into the sealed credential', async () => {
    const token = await server.token('acme');
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'from-url', repo_url: `https://deploy:${otherToken}@localhost:${host.port}/needs-user.git` });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.repo_url, 'the stored URL').toBe(`https://localhost:${host.port}/needs-user.git`);
    expect(created.body.credential).toEqual({ type: 'https_token' });
    const refreshed = await server.request(token, 'POST', '/v1/projects/from-url/refresh');
    expect(refreshed.status, `a refresh uses the moved credential: ${JSON.stringify(refreshed.body)}`).toBe(200);
  });

  it('no API answer, log line, database or mirror file holds a token in plain text', async () => {
    const token = await server.token('acme');
    // A remote that echoes the credentials it got into its refusal, which git prints and the server logs.
    const echoed = await server.request(token, 'POST', '/v1/projects', {
      name: 'echoed',
      repo_url: `https://localhost:${host.port}/missing.git`,
      credential: { type: 'https_token', token: secretToken },
    });
    expect(echoed.status, JSON.stringify(echoed.body)).toBe(422);
    expect(logs.text(), 'the remote refusal was logged').toContain(REMOTE_MARKER);
    const answers = [
      await server.request(token, 'GET', '/v1/projects'),
      await server.request(token, 'GET', '/v1/projects/private'),
      await server.request(token, 'GET', '/v1/projects/from-url'),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers[0]!.body.projects.map((project: { credential: unknown }) => project.credential)).toEqual([{ type: 'https_token' }, { type: 'https_token' }]);
    const forms = [secretToken, otherToken, basic('x-access-token', secretToken), basic('deploy', otherToken)];
    const everything = {
      answers: JSON.stringify(answers.map((answer) => answer.body)),
      logs: logs.text(),
      data: allBytes(server.dataDir).toString('latin1'),
    };
    expect(everything.logs.length, 'the log was collected').toBeGreaterThan(0);
    for (const [where, text] of Object.entries(everything)) {
      for (const form of forms) expect(text.includes(form), `${where} contains ${form}`).toBe(false);
    }
  });

  it('a malformed credential is refused naming the field', async () => {
    const token = await server.token('acme');
    const repoUrl = `https://localhost:${host.port}/needs-token.git`;
    const cases: Array<[unknown, RegExp]> = [
      [{ type: 'password', token: 'x' }, /credential.*type is 'https_token' or 'ssh_key'/],
      [{ type: 'https_token' }, /credential\.token is required/],
      [{ type: 'https_token', token: '' }, /credential\.token must not be empty/],
      [{ type: 'ssh_key', private_key: 'not a key' }, /credential\.private_key must be a PEM or OpenSSH private key/],
      [{ type: 'https_token', token: 'x', extra: 1 }, /extra/],
    ];
    for (const [credential, message] of cases) {
      const response = await server.request(token, 'POST', '/v1/projects', { name: 'bad', repo_url: repoUrl, credential });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.error.message, JSON.stringify(credential)).toMatch(message);
    }
    const mismatched = await server.request(token, 'POST', '/v1/projects', {
      name: 'bad',
      repo_url: `git@localhost:acme/x.git`,
      credential: { type: 'https_token', token: 'x' },
    });
    expect([mismatched.status, mismatched.body.error.message]).toEqual([400, 'credential: an https_token needs an https:// repo_url (use an ssh_key for ssh)']);
  });
});

describe('ssh repositories', () => {
  let server: TestServer;
  let sshHost: SshGitServer;
  let deployKey: SshKeyPair;
  let repo: TestRepo;
  let bare: string;

  beforeAll(async () => {
    deployKey = makeSshKey();
    repo = new TestRepo(DEMO_FILES);
    bare = bareCopy(repo.dir);
    sshHost = await startSshGitServer(bare, deployKey.publicKey);
    server = await startTestServer({ SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1' });
  });
  afterAll(async () => {
    await server?.close();
    await sshHost?.close();
    repo?.remove();
    if (bare) rmSync(bare, { recursive: true, force: true });
  });

  const publicPart = (key: string): string => key.split(' ').slice(0, 2).join(' ');

  it('a project registered with an SSH deploy key clones with that key only; the key file is gone after and the key is not stored in plain text', async () => {
    const token = await server.token('acme');
    const repoUrl = `ssh://git@127.0.0.1:${sshHost.port}/acme/models.git`;
    const created = await server.request(token, 'POST', '/v1/projects', { name: 'over-ssh', repo_url: repoUrl, credential: { type: 'ssh_key', private_key: deployKey.privateKey } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ repo_url: repoUrl, credential: { type: 'ssh_key' }, models: ['revenue', 'summary'] });
    expect(new Set(sshHost.offeredKeys), 'keys ssh offered').toEqual(new Set([publicPart(deployKey.publicKey)]));
    expect(readdirSync(join(server.dataDir, 'git', 'keys')), 'deploy key files left after the call').toEqual([]);
    const knownHosts = readFileSync(join(server.dataDir, 'git', 'known_hosts'), 'utf8');
    expect(knownHosts, "sandrun's own known_hosts learnt the host key").toContain(sshHost.hostKey);
    const refreshed = await server.request(token, 'POST', '/v1/projects/over-ssh/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const keyBody = deployKey.privateKey.split('\n')[1]!;
    expect(allBytes(server.dataDir).toString('latin1').includes(keyBody), 'the data directory holds the private key in plain text').toBe(false);
  });

  it('without a key, or when the host key has changed, the clone fails in sandrun’s words', async () => {
    const token = await server.token('acme');
    const offeredBefore = sshHost.offeredKeys.length;
    const keyless = await server.request(token, 'POST', '/v1/projects', { name: 'keyless', repo_url: `ssh://git@127.0.0.1:${sshHost.port}/acme/models.git` });
    expect(keyless.status, JSON.stringify(keyless.body)).toBe(422);
    expect(keyless.body.error.message).toBe(`cloning ssh://git@127.0.0.1:${sshHost.port}/acme/models.git: repository not found or access denied`);
    expect(sshHost.offeredKeys.slice(offeredBefore), 'keys offered without a credential').toEqual([]);

    // Another server on the same host with another host key: what a man in the middle looks like.
    const impostor = await startSshGitServer(bare, deployKey.publicKey);
    try {
      const response = await server.request(token, 'POST', '/v1/projects', {
        name: 'impostor',
        repo_url: `ssh://git@127.0.0.1:${impostor.port}/acme/models.git`,
        credential: { type: 'ssh_key', private_key: deployKey.privateKey },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(422);
      expect(response.body.error.message).toMatch(/the repository host's SSH key does not match the one recorded for it$/);
      expect(impostor.offeredKeys, 'keys offered to the impostor').toEqual([]);
    } finally {
      await impostor.close();
    }
  });
});

describe('projects stored before credentials were sealed', () => {
  let host: GitHttpsServer;
  let repo: TestRepo;
  let bare: string;
  let dataDir: string;
  const urlToken = 'tok-legacy-9a8b7c6d5e';

  beforeAll(async () => {
    host = await startGitHttpsServer();
    repo = new TestRepo(DEMO_FILES);
    bare = bareCopy(repo.dir);
    host.serve('legacy', bare, basic('deploy', urlToken));
    dataDir = mkdtempSync(join(tmpdir(), 'sandrun-data-'));
  });
  afterAll(async () => {
    await host?.close();
    repo?.remove();
    if (bare) rmSync(bare, { recursive: true, force: true });
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('have the user:token of their URL moved into a sealed credential at start, in the database and in the mirror', async () => {
    const env = { SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_GIT_CA_FILE: host.caFile };
    const cleanUrl = `https://localhost:${host.port}/legacy.git`;
    const legacyUrl = `https://deploy:${urlToken}@localhost:${host.port}/legacy.git`;
    const first = await startTestServer(env, { dataDir });
    const token = await first.token('acme');
    try {
      const created = await first.request(token, 'POST', '/v1/projects', { name: 'legacy', repo_url: legacyUrl });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      // Put the project back as an older server stored it: the token in the URL, in the row and in the mirror's config.
      first.sandrun.database.sqlite!.prepare('UPDATE projects SET repo_url = ?, credential_type = NULL, credential_sealed = NULL').run(legacyUrl);
      const mirror = readdirSync(join(dataDir, 'mirrors')).find((name) => name.endsWith('.git'))!;
      execFileSync('git', ['--git-dir', join(dataDir, 'mirrors', mirror), 'config', 'remote.origin.url', legacyUrl]);
    } finally {
      await first.close();
    }
    expect(allBytes(dataDir).toString('latin1').includes(urlToken), 'the legacy state holds the token').toBe(true);

    const second = await startTestServer(env, { dataDir });
    try {
      const shown = await second.request(token, 'GET', '/v1/projects/legacy');
      expect(shown.status, JSON.stringify(shown.body)).toBe(200);
      expect([shown.body.repo_url, shown.body.credential]).toEqual([cleanUrl, { type: 'https_token' }]);
      const refreshed = await second.request(token, 'POST', '/v1/projects/legacy/refresh');
      expect(refreshed.status, `a refresh uses the moved token: ${JSON.stringify(refreshed.body)}`).toBe(200);
      expect(allBytes(dataDir).toString('latin1').includes(urlToken), 'the data directory still holds the token in plain text').toBe(false);
    } finally {
      await second.close();
    }
  });
});
