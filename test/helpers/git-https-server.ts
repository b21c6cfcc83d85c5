// A git host on loopback for tests: bare repositories over git's dumb HTTP protocol, on HTTPS with a self-signed certificate.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';

export interface SeenRequest {
  path: string;
  host: string | undefined;
  authorization: string | undefined;
}

export interface GitHttpsServer {
  port: number;
  /** The certificate (for localhost, 127.0.0.1 and ::1) as a CA file for SANDRUN_GIT_CA_FILE or http.sslCAInfo. */
  caFile: string;
  requests: SeenRequest[];
  /** Serves `bareRepo` at /<name>.git; `authorization` (a whole header value) is then required for it. */
  serve(name: string, bareRepo: string, authorization?: string): void;
  close(): Promise<void>;
}

/** What the remote says when it refuses: a test checks that no client ever sees it. */
export const REMOTE_MARKER = 'REMOTE-SAYS-7f3a9c';

function pktLine(text: string): string {
  return `${(text.length + 4).toString(16).padStart(4, '0')}${text}`;
}

export async function startGitHttpsServer(): Promise<GitHttpsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-githttps-'));
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', keyFile, '-out', caFile, '-subj', '/CN=sandrun-test-git-host',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
  ], { stdio: 'ignore' });
  const repos = new Map<string, { dir: string; authorization: string | undefined }>();
  const requests: SeenRequest[] = [];
  const server: Server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (request, response) => {
    const url = new URL(request.url ?? '/', 'https://git.test');
    requests.push({ path: url.pathname, host: request.headers.host, authorization: request.headers.authorization });
    const [, name, rest] = /^\/([^/]+)\.git(\/.*)?$/.exec(url.pathname) ?? [];
    const repo = name === undefined ? undefined : repos.get(name);
    if (!repo) {
      // A smart-HTTP refusal: git prints the remote's own words ("remote error: ..."), here with the credentials it got.
      response.writeHead(200, { 'content-type': 'application/x-git-upload-pack-advertisement' });
      const echoed = request.headers.authorization ?? 'no credentials';
      response.end(`${pktLine('# service=git-upload-pack\n')}0000${pktLine(`ERR ${REMOTE_MARKER} no such repository for ${echoed}\n`)}`);
      return;
    }
    if (repo.authorization !== undefined && request.headers.authorization !== repo.authorization) {
      response.writeHead(401, { 'www-authenticate': `Basic realm="${REMOTE_MARKER}"` }).end(REMOTE_MARKER);
      return;
    }
    // Dumb HTTP: the repository's files as they are (info/refs, HEAD, objects/...).
    const file = normalize(join(repo.dir, rest ?? '/'));
    try {
      if (!file.startsWith(repo.dir) || !statSync(file).isFile()) throw new Error('not a file');
      response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
    } catch {
      response.writeHead(404).end(REMOTE_MARKER);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    caFile,
    requests,
    serve(name, bareRepo, authorization) {
      execFileSync('git', ['--git-dir', bareRepo, 'update-server-info']);
      repos.set(name, { dir: bareRepo, authorization });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A bare copy of a work tree's repository, as a git host keeps it. */
export function bareCopy(workTree: string): string {
  const bare = mkdtempSync(join(tmpdir(), 'sandrun-bare-'));
  rmSync(bare, { recursive: true });
  execFileSync('git', ['clone', '--quiet', '--bare', workTree, bare]);
  return bare;
}
